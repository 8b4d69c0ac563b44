"""Recognising what the callee said: intents by phrase, with Russian and English tolerance.

Speech-to-text gives lower-case-ish text with stray punctuation, "е" for "ё", and every word form a
language has ("перезвоните", "перезвонить", "перезвони"). Phrases match when each of their words
matches a word of the utterance in order, comparing stems; a phrase preceded by a negation ("не
интересно") does not count as the phrase ("интересно"), and the longest phrase wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

_NOT_WORD = re.compile(r"[^\w\s']+|'(?!\w)|(?<!\w)'")
_SPACES = re.compile(r"\s+")
NEGATIONS = frozenset({"не", "ни", "нет", "not", "don't", "dont", "never", "no"})
# Built-in phrases, which a skillbase may extend by defining an intent of the same name.
BUILTIN_PHRASES: dict[str, dict[str, list[str]]] = {
    "opt_out": {
        "ru": [
            "не звоните",
            "больше не звоните",
            "не звоните мне",
            "удалите мой номер",
            "удалите номер",
            "уберите мой номер",
            "вычеркните меня",
            "отпишите меня",
            "прекратите звонить",
            "хватит звонить",
            "не беспокойте",
            "внесите в черный список",
            "занесите в черный список",
        ],
        "en": [
            "don't call",
            "do not call",
            "stop calling",
            "never call",
            "remove my number",
            "take me off",
            "unsubscribe",
            "remove me from your list",
            "put me on your do not call list",
            "leave me alone",
        ],
    },
    "callback": {
        "ru": [
            "перезвоните",
            "перезвони",
            "позвоните позже",
            "позвоните попозже",
            "позвоните завтра",
            "позже",
            "попозже",
            "сейчас неудобно",
            "не могу говорить",
            "сейчас занят",
            "сейчас занята",
            "наберите позже",
            "давайте в другой раз",
            "в другой раз",
        ],
        "en": [
            "call me back",
            "call back",
            "call later",
            "call me later",
            "call me tomorrow",
            "not a good time",
            "can't talk",
            "cannot talk",
            "i'm busy",
            "busy right now",
            "another time",
            "later please",
        ],
    },
    "silence": {"ru": [], "en": []},
}
VOICEMAIL_PHRASES = {
    "ru": [
        "оставьте сообщение", "после звукового сигнала", "после сигнала", "абонент не может ответить",
        "абонент недоступен", "голосовой почты", "голосовая почта", "автоответчик", "вы позвонили",
        "не может сейчас ответить",
    ],
    "en": [
        "leave a message", "leave your message", "after the tone", "after the beep", "voicemail", "voice mail",
        "is not available", "can't take your call", "cannot take your call", "unable to answer",
        "you have reached", "please record your message",
    ],
}  # fmt: skip


def normalise(text: str) -> str:
    text = _NOT_WORD.sub(" ", text.lower().replace("ё", "е").replace("’", "'"))
    return _SPACES.sub(" ", text).strip()


def words(text: str) -> list[str]:
    return normalise(text).split()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude stem: words of up to four letters stay whole, longer ones lose up to two letters of
    ending but keep at least four ("перезвоните" → "перезвони", "can't" → "can'", never "can")."""
    if len(word) <= 4:
        return word
    return word[: max(4, len(word) - 2)]


def word_matches(phrase_word: str, token: str) -> bool:
    if len(phrase_word) <= 4 or len(token) <= 4:
        return phrase_word == token
    return token.startswith(stem(phrase_word)) or phrase_word.startswith(stem(token))


@dataclass(frozen=True)
class Phrase:
    intent: str
    words: tuple[str, ...]

    @property
    def weight(self) -> int:
        return len(self.words)


def compile_phrases(intents: Mapping[str, Mapping[str, Iterable[str]]]) -> list[Phrase]:
    phrases = []
    for intent, by_language in intents.items():
        for items in by_language.values():
            for text in items:
                tokens = tuple(words(text))
                if tokens:
                    phrases.append(Phrase(intent, tokens))
    return phrases


def _find(phrase: Phrase, tokens: list[str]) -> bool:
    """Phrase words in order, at most one stray word between them, not negated."""
    first = phrase.words[0]
    for start, token in enumerate(tokens):
        if not word_matches(first, token):
            continue
        if start > 0 and tokens[start - 1] in NEGATIONS and first not in NEGATIONS:
            continue
        position, ok = start, True
        for word in phrase.words[1:]:
            window = tokens[position + 1 : position + 3]
            hit = next((i for i, t in enumerate(window) if word_matches(word, t)), None)
            if hit is None:
                ok = False
                break
            position += hit + 1
        if ok:
            return True
    return False


def match_intents(text: str, phrases: Iterable[Phrase], allowed: set[str] | None = None) -> dict[str, int]:
    """Each matching intent with the weight of its longest matching phrase."""
    tokens = words(text)
    found: dict[str, int] = {}
    if not tokens:
        return found
    for phrase in phrases:
        if allowed is not None and phrase.intent not in allowed:
            continue
        if phrase.weight > found.get(phrase.intent, 0) and _find(phrase, tokens):
            found[phrase.intent] = phrase.weight
    return found


def best_intent(text: str, phrases: Iterable[Phrase], candidates: list[str]) -> str | None:
    """The candidate intent (in the given order of preference on ties) with the longest match."""
    found = match_intents(text, phrases, set(candidates))
    if not found:
        return None
    top = max(found.values())
    return next(intent for intent in candidates if found.get(intent) == top)


_VOICEMAIL = compile_phrases({"voicemail": VOICEMAIL_PHRASES})


def sounds_like_voicemail(text: str) -> bool:
    return bool(match_intents(text, _VOICEMAIL))
