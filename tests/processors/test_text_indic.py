"""Sentence splitting and speech cleanup for Indian languages and Indian English."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vani.processors.text import SentenceSplitter, clean_text_for_speech, split_sentences

# One short line per script: the cleanup must return it unchanged (matras, viramas, nuktas,
# ZWJ/ZWNJ conjuncts and all).
SCRIPTS = {
    "hindi (devanagari)": "क्या आप कल सुबह आ सकते हैं? मैं इंतज़ार करूँगा।",
    "marathi (devanagari)": "तुम्ही उद्या याल का? मी वाट पाहीन।",
    "bengali": "আপনি কি কাল সকালে আসতে পারবেন? আমি অপেক্ষা করব।",
    "tamil": "நீங்கள் நாளை காலை வர முடியுமா? நான் காத்திருப்பேன்.",
    "telugu": "మీరు రేపు ఉదయం రాగలరా? నేను ఎదురు చూస్తాను.",
    "kannada": "ನೀವು ನಾಳೆ ಬೆಳಿಗ್ಗೆ ಬರಬಹುದೇ? ನಾನು ಕಾಯುತ್ತೇನೆ.",
    "malayalam": "നിങ്ങൾക്ക് നാളെ രാവിലെ വരാമോ? ഞാൻ കാത്തിരിക്കും.",
    "gujarati": "શું તમે કાલે સવારે આવી શકો? હું રાહ જોઈશ.",
    "punjabi (gurmukhi)": "ਕੀ ਤੁਸੀਂ ਕੱਲ੍ਹ ਸਵੇਰੇ ਆ ਸਕਦੇ ਹੋ? ਮੈਂ ਉਡੀਕ ਕਰਾਂਗਾ।",
    "odia": "ଆପଣ କାଲି ସକାଳେ ଆସିପାରିବେ କି? ମୁଁ ଅପେକ୍ଷା କରିବି।",
    "urdu (arabic script)": "کیا آپ کل صبح آ سکتے ہیں؟ میں انتظار کروں گا۔",
    "zwj conjunct (marathi)": "र\u200dया आणि क्\u200dष",
    "zwnj (hindi)": "क्\u200cष",
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_cleanup_keeps_every_indic_script_intact(script: str) -> None:
    text = SCRIPTS[script]
    assert clean_text_for_speech(text) == text


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_cleanup_drops_markdown_and_emoji_around_indic_text(script: str) -> None:
    text = SCRIPTS[script]
    assert clean_text_for_speech(f"**{text}** 🙏🏽") == text


@pytest.mark.parametrize("script", sorted(k for k in SCRIPTS if "zw" not in k))
def test_each_script_splits_into_its_two_sentences(script: str) -> None:
    mark = "؟" if "؟" in SCRIPTS[script] else "?"
    first, second = SCRIPTS[script].split(f"{mark} ")
    assert split_sentences(SCRIPTS[script]) == [first + mark, second]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("آپ کیسے ہیں؟ میں ٹھیک ہوں۔ شکریہ", ["آپ کیسے ہیں؟", "میں ٹھیک ہوں۔", "شکریہ"]),
        ("آپ کیسے ہیں؟میں ٹھیک ہوں۔شکریہ", ["آپ کیسے ہیں؟", "میں ٹھیک ہوں۔", "شکریہ"]),
        ("你好。谢谢！真的？好", ["你好。", "谢谢！", "真的？", "好"]),
        ("हाँ।ठीक है॥ चलो", ["हाँ।", "ठीक है॥", "चलो"]),
    ],
)
def test_urdu_arabic_and_full_width_marks_end_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Pay Rs. 1,50,000 to ABC Pvt. Ltd. by 5 p.m. today. Thanks.",
            ["Pay Rs. 1,50,000 to ABC Pvt. Ltd. by 5 p.m. today.", "Thanks."],
        ),
        ("Room No. 5 is free. I said no. Fine.", ["Room No. 5 is free.", "I said no.", "Fine."]),
        (
            "She has a B.Tech. from I.I.T. Delhi and a Ph.D. from Pune. Great.",
            ["She has a B.Tech. from I.I.T. Delhi and a Ph.D. from Pune.", "Great."],
        ),
        (
            "Flat 4, Sec. 15, Opp. City Mall, Nr. the temple. Come by 6.30 pm.",
            ["Flat 4, Sec. 15, Opp. City Mall, Nr. the temple.", "Come by 6.30 pm."],
        ),
        (
            "Smt. Lata and Shri. Rao met Dr. Iyer. It was 3.5 lakh.",
            ["Smt. Lata and Shri. Rao met Dr. Iyer.", "It was 3.5 lakh."],
        ),
        ("Call Mob. 98450 12345 now. Ok.", ["Call Mob. 98450 12345 now.", "Ok."]),
    ],
)
def test_indian_english_numbers_and_abbreviations(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


SAMPLES = [
    "Room No. 5 is free. I said no. Pay Rs. 500 by 6 p.m. today.",
    "آپ کیسے ہیں؟ میں ٹھیک ہوں۔ 你好。谢谢！",
    "क्या आप आएँगे? हाँ। ठीक है॥ B.Tech. done.",
]


@given(st.sampled_from(SAMPLES), st.lists(st.integers(min_value=1, max_value=60), max_size=12))
def test_streaming_agrees_with_one_shot_for_any_token_split(text: str, cuts: list[int]) -> None:
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    splitter = SentenceSplitter()
    got: list[str] = []
    for piece in pieces:
        got += splitter.feed(piece)
    got += splitter.flush()
    assert got == split_sentences(text)
