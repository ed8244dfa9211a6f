"""Speech-ready text: sentence splitting, markdown/emoji cleaning, and the sentence aggregator.

TTS engines speak best (and start sooner) when given whole sentences, and they read markdown
and emoji aloud literally. This module turns a stream of LLM tokens into clean sentences:

* :func:`split_sentences` splits a whole text; :class:`SentenceSplitter` does the same
  incrementally and gives the same sentences however the text is cut into tokens.
* :func:`clean_text_for_speech` strips markdown and emoji.
* :class:`SentenceAggregator` is the pipeline processor: ``LLMTextFrame`` tokens in, one
  ``TextFrame`` per sentence out.

Sentence ends: Latin ``. ? !`` followed by whitespace (closing quotes and brackets may sit in
between); wherever they stand, Devanagari ``।`` and ``॥``, Urdu ``۔``, Arabic-script ``؟`` and
the full-width ``。！？``; and newlines. Never at abbreviations (``Dr.``, ``e.g.``, single
initials, dotted degrees like ``B.Tech.`` and ``Ph.D.``, and those of Indian English: ``Rs.``,
``Pvt. Ltd.``, ``Smt.``, ``Sec.``, ``Opp.``, ``No. 5``), inside decimals (``3.14``) or numbers
(``1,50,000``), at ellipses (``...``, ``…``) or after a list number (``1.``). A sentence longer
than ``max_chars`` is cut at its last comma or space before the cap. See docs/turn-taking.md.
"""

from __future__ import annotations

import re

from vani.frames import (
    EndFrame,
    Frame,
    FrameDirection,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TextFrame,
)
from vani.processors import FrameProcessor

__all__ = [
    "DEFAULT_MAX_SENTENCE_CHARS",
    "SentenceAggregator",
    "SentenceSplitter",
    "clean_text_for_speech",
    "split_sentences",
]

DEFAULT_MAX_SENTENCE_CHARS = 300

_LATIN_TERMINATORS = frozenset(".?!")
# Terminators that end a sentence wherever they stand (no space needed after them): Devanagari
# danda and double danda, Urdu full stop, Arabic question mark, full-width 。！？.
_DEVANAGARI_TERMINATORS = frozenset("।॥۔؟。！？")
_TERMINATORS = _LATIN_TERMINATORS | _DEVANAGARI_TERMINATORS | {"…"}
# Characters that may follow a terminator and still belong to the sentence it ends.
_CLOSERS = frozenset("\"')]}”’»*_")
_SOFT_BREAKS = ",;:،"

# Lowercased words (without their final dot) after which a dot does not end a sentence.
_ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
        "inc",
        "ltd",
        "co",
        "corp",
        "approx",
        "dept",
        "fig",
        "figs",
        "govt",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "rs",
        "smt",
        "shri",
        "km",
        "kg",
        "cm",
        "mm",
        "vol",
        "pp",
        "u.s",
        "u.k",
        "viz",
        "cf",
        # Common in Indian English: titles, companies, addresses, offices.
        "pvt",
        "sri",
        "kum",
        "sh",
        "pt",
        "er",
        "adv",
        "capt",
        "col",
        "lt",
        "gen",
        "maj",
        "brig",
        "hon",
        "bros",
        "nos",
        "rd",
        "ave",
        "apt",
        "sec",
        "opp",
        "nr",
        "dist",
        "mob",
        "tel",
        "ext",
        "est",
        "univ",
        "inst",
        "asst",
        "addl",
        "jt",
        "dy",
        "supdt",
        "hrs",
        "yrs",
        "mins",
        "lakh",
    }
)
# Words that are abbreviations only before a number ("No. 5", "Rs. 500"), else ordinary words.
_BEFORE_NUMBER = frozenset({"no", "re", "art", "ch", "cl", "para", "ph"})


def _is_space(ch: str) -> bool:
    return ch.isspace()


def _word_before(text: str, start: int, end: int) -> str:
    """The run of non-space characters of ``text[start:end]`` that ends at ``end``."""
    i = end
    while i > start and not text[i - 1].isspace():
        i -= 1
    return text[i:end]


def _dot_ends_sentence(text: str, start: int, run_start: int, run: str) -> bool:
    """Whether a terminator run that ends in dots really ends the sentence."""
    if "?" in run or "!" in run:
        return True
    # Ellipses trail off or pause; they are not sentence ends.
    if run.count(".") >= 2 or "…" in run:
        return False
    word = _word_before(text, start, run_start).lstrip("\"'([{“‘«*_")
    if not word:
        return True
    lowered = word.lower()
    if lowered in _ABBREVIATIONS:
        return False
    if lowered in _BEFORE_NUMBER:
        after = text[run_start + len(run) :].lstrip()
        if after[:1].isdigit():
            return False
    # Dotted abbreviations of short parts: "B.Tech", "Ph.D", "M.B.B.S", "I.I.T".
    parts = lowered.split(".")
    if len(parts) > 1 and all(0 < len(p) <= 4 and p.isalpha() for p in parts):
        return False
    # A single letter is an initial ("J. K. Rowling").
    if len(word) == 1 and word.isalpha():
        return False
    # "1." at the start of a sentence is a list number, not a sentence.
    return not (word.isdigit() and len(word) <= 3 and text[start:run_start].strip() == word)


def _cut_long(text: str, start: int, max_chars: int) -> int:
    """Where to cut an over-long sentence that starts at ``start`` (an index into ``text``)."""
    limit = start + max_chars
    window = text[start:limit]
    for breaks in (_SOFT_BREAKS, None):
        best = -1
        for i in range(len(window) - 1, max_chars // 3, -1):
            ch = window[i]
            if (breaks is not None and ch in breaks) or (breaks is None and ch.isspace()):
                best = i
                break
        if best > 0:
            return start + best + 1
    return limit


def _scan(text: str, *, max_chars: int, final: bool) -> tuple[list[str], int]:
    """Split ``text`` into sentences; returns them and how many characters they consumed.

    With ``final`` False, a boundary is only taken when the characters needed to decide it are
    present, so feeding more text later never changes a sentence already returned. This is what
    makes the streaming splitter agree with the one-shot split for any token split.
    """
    sentences: list[str] = []
    n = len(text)
    start = 0
    i = 0
    while i < n:
        # Skip leading whitespace of a sentence so the length cap counts real content.
        if i == start and text[i].isspace():
            i += 1
            start = i
            continue
        ch = text[i]
        if ch == "\n":
            piece = text[start:i].strip()
            if piece:
                sentences.append(piece)
            i += 1
            start = i
            continue
        if ch in _TERMINATORS:
            run_start = i
            j = i
            while j < n and text[j] in _TERMINATORS:
                j += 1
            while j < n and text[j] in _CLOSERS:
                j += 1
            if j >= n and not final:
                break  # the run may continue, or a closer may follow: wait for more text
            run = text[run_start:j]
            if (
                not final
                and run == "."
                and not text[j:].strip()
                and _word_before(text, start, run_start).lower() in _BEFORE_NUMBER
            ):
                break  # "No." ends a sentence unless a number follows: wait for it
            ends = False
            if any(c in _DEVANAGARI_TERMINATORS for c in run):
                ends = True
            elif j >= n or _is_space(text[j]):
                ends = (
                    _dot_ends_sentence(text, start, run_start, run)
                    if "." in run or "…" in run
                    else True
                )
            if ends:
                piece = text[start:j].strip()
                if piece:
                    sentences.append(piece)
                start = j
                i = j
                continue
            i = j
        else:
            i += 1
        if i - start > max_chars:
            cut = _cut_long(text, start, max_chars)
            piece = text[start:cut].strip()
            if piece:
                sentences.append(piece)
            start = cut
            i = cut
    if final:
        piece = text[start:].strip()
        if piece:
            sentences.append(piece)
        start = n
    return sentences, start


def split_sentences(text: str, *, max_chars: int = DEFAULT_MAX_SENTENCE_CHARS) -> list[str]:
    """Split a whole text into sentences (stripped, none empty). Pure; see the module doc."""
    if max_chars < 16:
        raise ValueError(f"expected max_chars of at least 16, got {max_chars}")
    return _scan(text, max_chars=max_chars, final=True)[0]


class SentenceSplitter:
    """Incremental :func:`split_sentences`: feed tokens, get the sentences they complete.

    ``feed`` returns the sentences completed so far; ``flush`` returns what is left (end of the
    response); ``reset`` drops it (interruption). For any cut of a text into pieces, the
    concatenation of every ``feed`` result and the ``flush`` result equals
    ``split_sentences(text)``. Not thread-safe; one per stream.
    """

    __slots__ = ("_buffer", "_max_chars")

    def __init__(self, *, max_chars: int = DEFAULT_MAX_SENTENCE_CHARS) -> None:
        if max_chars < 16:
            raise ValueError(f"expected max_chars of at least 16, got {max_chars}")
        self._max_chars = max_chars
        self._buffer = ""

    @property
    def pending(self) -> str:
        """Text received but not yet returned as a sentence."""
        return self._buffer

    def feed(self, text: str) -> list[str]:
        """Add ``text``; return the sentences it completed (possibly none)."""
        if not text:
            return []
        self._buffer += text
        sentences, consumed = _scan(self._buffer, max_chars=self._max_chars, final=False)
        if consumed:
            self._buffer = self._buffer[consumed:]
        return sentences

    def flush(self) -> list[str]:
        """Return the rest of the buffered text as sentences and empty the buffer."""
        sentences, _ = _scan(self._buffer, max_chars=self._max_chars, final=True)
        self._buffer = ""
        return sentences

    def reset(self) -> None:
        """Drop buffered text (the response was interrupted)."""
        self._buffer = ""


# ---------------------------------------------------------------------------------------------
# Cleaning

_EMOJI_CHAR = (
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, flags, symbols & pictographs
    "\u2600-\u27bf"  # misc symbols and dingbats
    "\u2b00-\u2bff"  # arrows/stars used as emoji (⭐ ⬆)
    "\u231a\u231b\u23e9-\u23fa\u24c2\u3030\u303d\u3297\u3299"
)
# An emoji with its modifiers: variation selector, skin tones, keycap, and ZWJ-joined parts.
# ZWJ alone is left alone: Devanagari conjunct shaping uses it.
_EMOJI_RE = re.compile(
    f"[{_EMOJI_CHAR}](?:[\ufe0f\u20e3\U0001f3fb-\U0001f3ff]|\u200d[{_EMOJI_CHAR}])*\ufe0f?"
)
_CODE_FENCE_RE = re.compile(r"```[^\n]*\n?(.*?)```", re.DOTALL)
_INLINE_CODE_RE = re.compile(r"`([^`]*)`")
_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_HEADER_RE = re.compile(r"^[ \t]*#{1,6}[ \t]+", re.MULTILINE)
_BLOCKQUOTE_RE = re.compile(r"^[ \t]*>+[ \t]?", re.MULTILINE)
_BULLET_RE = re.compile(r"^[ \t]*[-*+•][ \t]+", re.MULTILINE)
_RULE_RE = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_BOLD_RE = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_STAR_ITALIC_RE = re.compile(r"\*(?=\S)([^*]+?)(?<=\S)\*")
_UNDERSCORE_ITALIC_RE = re.compile(r"(?<!\w)_(?=\S)([^_]+?)(?<=\S)_(?!\w)")
_STRIKE_RE = re.compile(r"~~(.+?)~~")
_TABLE_RULE_RE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}.*$", re.MULTILINE)
_SPACES_RE = re.compile(r"[ \t\u00a0]+")
_SPACE_BEFORE_MARK_RE = re.compile(r" +([.,!?;:।॥۔؟])")
# Any character one of the markup or emoji rules above could act on; most sentences have none
# and skip them (~30 µs of regular expressions for a short sentence).
_MARKUP_OR_EMOJI_RE = re.compile(f"[`\\[#>*+•_|~\\-{_EMOJI_CHAR}]")


def clean_text_for_speech(text: str) -> str:
    """Remove markdown markup and emoji so a TTS engine speaks only the words.

    Keeps the text of links, code and emphasis; drops headers' ``#``, bullets, rules, table
    pipes and stray ``*``. Collapses runs of spaces; keeps newlines. Pure.
    """
    if _MARKUP_OR_EMOJI_RE.search(text) is not None:
        text = _strip_markup(text)
    text = _SPACES_RE.sub(" ", text)
    text = _SPACE_BEFORE_MARK_RE.sub(r"\1", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


def _strip_markup(text: str) -> str:
    text = _CODE_FENCE_RE.sub(r"\1", text)
    text = _INLINE_CODE_RE.sub(r"\1", text)
    text = _IMAGE_RE.sub(r"\1", text)
    text = _LINK_RE.sub(r"\1", text)
    text = _RULE_RE.sub("", text)
    text = _TABLE_RULE_RE.sub("", text)
    text = _HEADER_RE.sub("", text)
    text = _BLOCKQUOTE_RE.sub("", text)
    text = _BULLET_RE.sub("", text)
    text = _BOLD_RE.sub(r"\2", text)
    text = _STAR_ITALIC_RE.sub(r"\1", text)
    text = _UNDERSCORE_ITALIC_RE.sub(r"\1", text)
    text = _STRIKE_RE.sub(r"\1", text)
    text = _EMOJI_RE.sub("", text)
    # Leftover markup characters that a TTS would read aloud ("asterisk", "pipe").
    return text.replace("*", "").replace("|", " ").replace("#", " ")


# ---------------------------------------------------------------------------------------------
# Processor


class SentenceAggregator(FrameProcessor):
    """Turns streamed ``LLMTextFrame`` tokens into one ``TextFrame`` per sentence.

    Emits each sentence as soon as it is complete (cleaned with :func:`clean_text_for_speech`
    when ``clean`` is true; sentences that clean to nothing are dropped). At
    ``LLMFullResponseEndFrame`` (and ``EndFrame``) the rest is flushed before the frame is passed
    on; ``LLMFullResponseStartFrame`` and ``InterruptionFrame`` drop buffered text. Other frames
    pass through unchanged.
    """

    def __init__(
        self,
        *,
        max_chars: int = DEFAULT_MAX_SENTENCE_CHARS,
        clean: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self._splitter = SentenceSplitter(max_chars=max_chars)
        self._clean = clean

    async def _push_sentences(self, sentences: list[str]) -> None:
        for sentence in sentences:
            text = clean_text_for_speech(sentence) if self._clean else sentence
            if text:
                await self.push_frame(TextFrame(text=text))

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if (
            isinstance(frame, LLMTextFrame)
            and direction == FrameDirection.DOWNSTREAM
            and not frame.skip_tts
        ):
            await self._push_sentences(self._splitter.feed(frame.text))
            return
        if isinstance(frame, LLMFullResponseEndFrame | EndFrame):
            await self._push_sentences(self._splitter.flush())
        elif isinstance(frame, LLMFullResponseStartFrame | InterruptionFrame):
            self._splitter.reset()
        await self.push_frame(frame, direction)
