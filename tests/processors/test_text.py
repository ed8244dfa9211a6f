"""Sentence splitting and cleaning for speech (vani/processors/text.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vani.frames import (
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TextFrame,
)
from vani.processors.text import (
    SentenceAggregator,
    SentenceSplitter,
    clean_text_for_speech,
    split_sentences,
)
from vani.testing import run_test

ENGLISH = (
    "Hello there! Dr. Rao will see you at 4.30 p.m. today. Is that okay? "
    "Wait... let me check. The fee is Rs. 500, e.g. cash or card. "
    'He said "fine." Then he left.\nNew line here'
)
HINDI = "नमस्ते! आपका स्वागत है। आपकी बुकिंग कल सुबह 10.30 बजे है। क्या यह ठीक है? धन्यवाद॥ फिर मिलेंगे"
MIXED = "आपका order confirm हो गया है। Delivery कल तक होगी. Any questions? पूछिए।"


def test_english_splits_at_sentence_ends_but_not_abbreviations_decimals_or_ellipses() -> None:
    assert split_sentences(ENGLISH) == [
        "Hello there!",
        "Dr. Rao will see you at 4.30 p.m. today.",
        "Is that okay?",
        "Wait... let me check.",
        "The fee is Rs. 500, e.g. cash or card.",
        'He said "fine."',
        "Then he left.",
        "New line here",
    ]


def test_hindi_splits_at_danda_double_danda_and_latin_marks() -> None:
    assert split_sentences(HINDI) == [
        "नमस्ते!",
        "आपका स्वागत है।",
        "आपकी बुकिंग कल सुबह 10.30 बजे है।",
        "क्या यह ठीक है?",
        "धन्यवाद॥",
        "फिर मिलेंगे",
    ]


def test_mixed_hindi_english_text_splits_on_both_scripts_marks() -> None:
    assert split_sentences(MIXED) == [
        "आपका order confirm हो गया है।",
        "Delivery कल तक होगी.",
        "Any questions?",
        "पूछिए।",
    ]


def test_danda_ends_a_sentence_even_without_a_following_space() -> None:
    assert split_sentences("पहला वाक्य।दूसरा वाक्य") == ["पहला वाक्य।", "दूसरा वाक्य"]


def test_initials_and_list_numbers_do_not_end_sentences() -> None:
    assert split_sentences("J. K. Rowling wrote it. 1. Buy milk\n2. Call home") == [
        "J. K. Rowling wrote it.",
        "1. Buy milk",
        "2. Call home",
    ]


def test_unicode_ellipsis_does_not_end_a_sentence_but_question_does() -> None:
    assert split_sentences("Well… maybe. Really?! Yes") == ["Well… maybe.", "Really?!", "Yes"]


def test_over_long_sentence_is_cut_at_a_comma_or_space_below_the_cap() -> None:
    text = "word " * 30 + "end, " + "more " * 40
    pieces = split_sentences(text, max_chars=100)
    assert all(len(p) <= 100 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_a_max_chars_below_sixteen_is_refused() -> None:
    with pytest.raises(ValueError, match="expected max_chars of at least 16, got 5"):
        SentenceSplitter(max_chars=5)


def test_streaming_splitter_returns_sentences_as_soon_as_they_are_decidable() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Hello there") == []
    assert splitter.feed("! How") == ["Hello there!"]
    assert splitter.feed(" are you?") == []  # could still be "?!" or a closing quote
    assert splitter.feed(" Fine") == ["How are you?"]
    assert splitter.flush() == ["Fine"]
    assert splitter.pending == ""


def test_reset_drops_the_partial_sentence() -> None:
    splitter = SentenceSplitter()
    splitter.feed("This will be interrupt")
    splitter.reset()
    assert splitter.feed("New. ") == ["New."]


_alphabet = st.sampled_from(
    [*"abc xyz.?!,\n\"')", "Dr.", "e.g.", "3.14", "...", "…", "।", "॥", "नमस्ते", " है", "1. "]
)


def _split_points(text: str) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(min_value=0, max_value=len(text)), max_size=12).map(sorted)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), cap=st.sampled_from([16, 40, 300]))
def test_any_token_split_gives_the_same_sentences(data: st.DataObject, cap: int) -> None:
    base = data.draw(st.sampled_from([ENGLISH, HINDI, MIXED, ""]))
    extra = "".join(data.draw(st.lists(_alphabet, max_size=40)))
    text = base + extra
    cuts = data.draw(_split_points(text))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    splitter = SentenceSplitter(max_chars=cap)
    streamed: list[str] = []
    for piece in pieces:
        streamed.extend(splitter.feed(piece))
    streamed.extend(splitter.flush())
    assert streamed == split_sentences(text, max_chars=cap)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200), cap=st.integers(min_value=16, max_value=80))
def test_splitting_never_loses_or_invents_characters(text: str, cap: int) -> None:
    pieces = split_sentences(text, max_chars=cap)
    assert "".join("".join(pieces).split()) == "".join(text.split())
    assert all(p == p.strip() and p for p in pieces)


def test_clean_strips_markdown_but_keeps_the_words() -> None:
    md = (
        "## Your order\n"
        "- **Pizza** with *extra* cheese\n"
        "- `code` and [the menu](https://example.com/menu)\n"
        "> quoted ~~old~~ text\n"
        "---\n"
        "| a | b |\n"
    )
    assert clean_text_for_speech(md) == (
        "Your order\nPizza with extra cheese\ncode and the menu\nquoted old text\n\na b"
    )


def test_clean_removes_emoji_with_modifiers_and_keeps_devanagari_joiners() -> None:
    assert clean_text_for_speech("Great job 👍🏽! Family 👨\u200d👩\u200d👧 time ❤️ ⭐") == (
        "Great job! Family time"
    )
    conjunct = "क्\u200dष"  # ZWJ inside a Devanagari conjunct must survive
    assert clean_text_for_speech(f"नमस्ते 🙏 {conjunct}") == f"नमस्ते {conjunct}"


def test_clean_keeps_snake_case_words() -> None:
    assert clean_text_for_speech("use my_var_name or _private") == "use my_var_name or _private"


async def test_sentence_aggregator_turns_llm_tokens_into_clean_sentence_frames() -> None:
    reply = "**Hi** there! Dr. Rao says 3.5 is fine 👍. Bye"
    frames: list[Frame] = [
        LLMFullResponseStartFrame(),
        *[LLMTextFrame(text=reply[i : i + 3]) for i in range(0, len(reply), 3)],
        LLMFullResponseEndFrame(),
    ]
    down, _ = await run_test(SentenceAggregator(), frames_to_send=frames)
    assert [type(f) for f in down] == [
        LLMFullResponseStartFrame,
        TextFrame,
        TextFrame,
        TextFrame,
        LLMFullResponseEndFrame,
    ]
    assert [f.text for f in down if type(f) is TextFrame] == [
        "Hi there!",
        "Dr. Rao says 3.5 is fine.",
        "Bye",
    ]


async def test_sentence_aggregator_drops_the_partial_sentence_on_interruption() -> None:
    frames: list[Frame] = [
        LLMFullResponseStartFrame(),
        LLMTextFrame(text="This will be cut"),
        InterruptionFrame(),
        LLMFullResponseStartFrame(),
        LLMTextFrame(text="Fresh start."),
        LLMFullResponseEndFrame(),
    ]
    down, _ = await run_test(SentenceAggregator(), frames_to_send=frames)
    assert [f.text for f in down if type(f) is TextFrame] == ["Fresh start."]


# Pieces each markup and emoji rule acts on, and plain text around them (Devanagari too).
_CLEANING_PIECES = [
    *"ab .,!?:\n\t*_#>-+•|~`[]()✅🙂",
    *["\u200d", "\ufe0f", "नमस्ते", "word", "~~", "**", "__", "```", "```py\n", "[a](b)"],
    *[
        "![a](b)",
        "---",
        "# ",
        "> ",
        "- ",
        "* ",
        "+ ",
        "• ",
        "| x |",
        ":---",
        "👍🏽",
        "1️⃣",
        "👩\u200d💻",
    ],
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_CLEANING_PIECES), max_size=14).map("".join))
def test_cleaning_skips_the_markup_rules_only_where_none_could_apply(text: str) -> None:
    from vani.processors import text as module

    def every_rule(text: str) -> str:
        text = module._strip_markup(text)
        text = module._SPACES_RE.sub(" ", text)
        text = module._SPACE_BEFORE_MARK_RE.sub(r"\1", text)
        return "\n".join(line.strip() for line in text.split("\n")).strip()

    assert clean_text_for_speech(text) == every_rule(text)
