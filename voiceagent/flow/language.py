"""Which language a callee's line is in, when it is not the bot's: by script, then by the common
words of the languages a Russian or American caller may answer in. Short lines ("ok", "да") say
nothing and are left to the script."""

from __future__ import annotations

import re

_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_UKRAINIAN = re.compile(r"[іїєґ]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# A handful of each language's most common words; two of them make a line that language.
COMMON_WORDS = {
    "en": "i you he she we they it is are am was the a an and or but not don't do does this that what my your "
    "me speak english russian sorry understand please can't no yes hello who where why how".split(),
    "de": "ich du sie wir nicht ist das die der und ja nein sprechen spreche deutsch kein keine verstehe bitte wer "
    "was hallo entschuldigung".split(),
    "fr": "je tu vous nous ne pas est le la les et oui non parle parlez français comprends bonjour merci qui quoi".split(),
    "es": "yo tu usted no es el la los las y si sí hablo habla español entiendo hola gracias quien que".split(),
    "it": "io tu lei non è il la e sì si parlo parla italiano capisco ciao grazie chi che".split(),
    "pt": "eu você voce não nao falo fala inglês ingles português portugues desculpe obrigado obrigada sim entendo olá ola quem".split(),
    "tr": "ben sen biz değil ve evet hayır türkçe konuşuyorum anlamıyorum merhaba".split(),
    "uz": "men siz biz emas va ha yo'q o'zbekcha tushunmayapman salom rahmat".split(),
}
# Words of Cyrillic languages that are not Russian.
UKRAINIAN_WORDS = frozenset("я не розумію розмовляю українською що це хто ви ні так дякую будь ласка".split())
KAZAKH = re.compile(r"[әғқңөұүһі]", re.IGNORECASE)
# Lines that name the language the callee speaks or wants ("вы говорите по-английски?", "I don't speak Russian").
ASKS = re.compile(
    r"по-?английски|по-?украински|по-?узбекски|по-?таджикски|по-?казахски|по-?армянски|по-?немецки|по-?русски|"
    r"на английском|на украинском|на узбекском|на таджикском|на казахском|на русском|"
    r"\b(?:speak|talk in|understand|speaking|in)\s+(?:english|spanish|russian|chinese|french|german|italian|portuguese|"
    r"korean|arabic|vietnamese|hindi)\b|\bno english\b|\bespañol\b|\benglish please\b"
)
NOT_SPEAKING = re.compile(r"\b(?:не|don't|do not|can't|cannot|no)\s+(?:говорю|понимаю|speak|understand)\b")
ASKED_LANGUAGE = {
    "английск": "en", "русски": "ru", "украинск": "uk", "узбекск": "uz", "таджикск": "tg", "казахск": "kk", "армянск": "hy", "немецк": "de",
    "русск": "ru", "english": "en", "spanish": "es", "español": "es", "russian": "ru", "chinese": "zh", "french": "fr", "german": "de",
    "italian": "it", "portuguese": "pt", "korean": "ko", "arabic": "ar", "vietnamese": "vi", "hindi": "hi",
}  # fmt: skip


# Scripts no Russian or English line is written in: a line in one is another language.
_OTHER_SCRIPTS = (
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("hy", re.compile(r"[\u0530-\u058f]")),
    ("ka", re.compile(r"[\u10a0-\u10ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
)
# "No English", «я не говорю по-русски»: said in the bot's language, but not spoken by the callee.
_REFUSES = {
    "en": re.compile(r"\b(?:no|don't speak|do not speak|can't speak|cannot speak|not speak|little)\s+english\b"),
    "ru": re.compile(r"\b(?:не говорю|не разговариваю|плохо говорю|не понимаю)\s+(?:по-?русски|на русском)\b"),
}


def other_language(text: str, bot_language: str) -> str | None:
    """The language ``text`` is in when it is clearly not the bot's ("en", "de", "uk", ...; "" for one
    not known here), or None."""
    bot = bot_language.split("-")[0].lower()
    lowered = text.lower().replace("ё", "е")
    for code, script in _OTHER_SCRIPTS:
        if len(script.findall(lowered)) >= 2:
            return code
    if bot in _REFUSES and _REFUSES[bot].search(lowered):
        return ""
    words = _WORD.findall(lowered)
    spoken = _spoken(lowered, words, bot)
    if spoken is not None and (len(words) >= 3 or NOT_SPEAKING.search(lowered)):
        return spoken
    return None


def asked_language(text: str, bot_language: str) -> str | None:
    """The language a line in the bot's own language asks for ("вы говорите по-английски?"), or None."""
    bot = bot_language.split("-")[0].lower()
    match = ASKS.search(text.lower().replace("ё", "е"))
    if match is None:
        return None
    named = next((code for stem, code in ASKED_LANGUAGE.items() if stem in match.group(0)), "")
    return named if named and named != bot else None


def _spoken(lowered: str, words: list[str], bot: str) -> str | None:
    """The line's language when it is not ``bot``; "" when it is some other language not known here."""
    if not words:
        return None
    cyrillic = len(_CYRILLIC.findall(lowered)) + len(_UKRAINIAN.findall(lowered))
    latin = len(_LATIN.findall(lowered))
    if cyrillic > 2 * latin:
        if _UKRAINIAN.search(lowered) or sum(w in UKRAINIAN_WORDS for w in words) >= 3 and "что" not in words:
            found = "uk"
        elif KAZAKH.search(lowered):
            found = "kk"
        else:
            found = "ru"
    elif latin > 2 * cyrillic:
        counts = {code: sum(w in common for w in words) for code, common in COMMON_WORDS.items()}
        others = {code: hits for code, hits in counts.items() if code != "en" and hits >= 2 and hits > counts["en"]}
        if others:
            found = max(others, key=others.get)
        else:
            found = "en"
    else:
        return None
    return None if found == bot else found
