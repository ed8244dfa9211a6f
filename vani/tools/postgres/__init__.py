"""``vani.tools.postgres``: Postgres and pgvector for the LLM, with no SQL from the LLM.

The LLM fills in structured requests (``db_schema``, ``db_query``, ``db_search``,
``db_refine``); the tool checks every name against the introspected schema, binds every value as
a parameter, and runs each call in a read-only transaction with timeouts, a row cap and the
caller's tenant scope. Install with ``pip install 'vani[db]'``. See ``docs/database.md``.
"""

from vani.tools.postgres.build import TenantScope
from vani.tools.postgres.embed import Embedder, FunctionEmbedder, MiniLMEmbedder, as_embedder
from vani.tools.postgres.errors import DatabaseToolError
from vani.tools.postgres.schema import Column, DatabaseSchema, Exposure, ForeignKey, Table
from vani.tools.postgres.tool import PostgresTool, PostgresToolSession, QueryResult

__all__ = [
    "Column",
    "DatabaseSchema",
    "DatabaseToolError",
    "Embedder",
    "Exposure",
    "ForeignKey",
    "FunctionEmbedder",
    "MiniLMEmbedder",
    "PostgresTool",
    "PostgresToolSession",
    "QueryResult",
    "Table",
    "TenantScope",
    "as_embedder",
]
