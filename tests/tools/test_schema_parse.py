"""Enum-like CHECK constraints, as Postgres 15 prints them, become enums (no database needed)."""

from __future__ import annotations

import pytest

pytest.importorskip("psycopg", reason="vani[db] is not installed")

from vani.tools.postgres.schema import check_enum


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (
            "CHECK (((a)::text = ANY ((ARRAY['x'::character varying,"
            " 'y''s'::character varying])::text[])))",
            ("a", ("x", "y's")),
        ),
        ("CHECK ((category = ANY (ARRAY['pizza'::text, 'pasta'::text])))",
         ("category", ("pizza", "pasta"))),
        ("CHECK (((b = 'p'::text) OR (b = 'q'::text)))", ("b", ("p", "q"))),
        # Not enums of text: numbers, mixed conditions, quoted names with spaces.
        ("CHECK ((e = ANY (ARRAY[1, 2])))", None),
        ("CHECK (((f = 'a'::text) AND (length(f) > 0)))", None),
        ("CHECK (((party_size >= 1) AND (party_size <= 20)))", None),
        ("CHECK ((\"C d\" = ANY (ARRAY['m'::text, 'n'::text])))", None),
    ],
)  # fmt: skip
def test_check_constraints_that_list_values_become_enums(
    definition: str, expected: tuple[str, tuple[str, ...]] | None
) -> None:
    assert check_enum(definition) == expected
