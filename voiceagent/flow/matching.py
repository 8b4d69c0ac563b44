"""Recognising what the callee said: intents by phrase, with Russian and English tolerance.

Speech-to-text gives lower-case-ish text with stray punctuation, "е" for "ё", and every word form a
language has ("перезвоните", "перезвонить", "перезвони"). Phrases match when each of their words
matches a word of the utterance in order, comparing stems; a phrase preceded by a negation ("не
интересно") does not count as the phrase ("интересно"), and the longest phrase wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

_NOT_WORD = re.compile(r"[^\w\s']+|'(?!\w)|(?<!\w)'")
_SPACES = re.compile(r"\s+")
NEGATIONS = frozenset({"не", "ни", "нет", "not", "don't", "dont", "never", "no"})
# Built-in phrases, which a skillbase may extend by defining an intent of the same name.
BUILTIN_PHRASES: dict[str, dict[str, list[str]]] = {  # fmt: skip
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
            "take my number off",
            "off your list",
            "off your calling list",
            "remove me",
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
            "потом наберите",
            "наберите потом",
            "как-нибудь потом",
            "позвоните потом",
            "я за рулем",
            "я в дороге",
            "я на работе",
            "я на совещании",
            "не сейчас",
            "неудобно говорить",
            "занят",
            "занята",
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
            "some other time",
            "try again later",
            "try again sometime",
            "call again",
            "later please",
            "i'm driving",
            "i'm at work",
            "i'm in a meeting",
            "not now",
            "bad time",
        ],
    },
    "silence": {"ru": [], "en": []},
    # Soft and plain answers every script understands; a skillbase's own "yes" and "no" add to them.
    "yes": {
        "ru": [
            "да",
            "конечно",
            "наверное да",
            "думаю да",
            "скорее да",
            "пожалуй",
            "пожалуй да",
            "не откажусь",
            "я не против",
            "не против",
            "почему бы и нет",
            "почему бы нет",
            "было бы неплохо",
            "можно попробовать",
            "в принципе можно",
            "в принципе да",
            "давайте",
            "ну давайте",
            "хорошо",
            "ладно",
            "идет",
            "годится",
            "подойдет",
            "устраивает",
            "с удовольствием",
            "рассказывайте",
            "валяйте",
            "согласна",
            "согласен",
            "верно",
            "ага",
            "угу",
        ],
        "en": [
            "yes",
            "yeah",
            "yep",
            "sure",
            "i guess so",
            "i suppose so",
            "i think so",
            "probably",
            "sure thing",
            "i'd like that",
            "that would be nice",
            "sounds good",
            "sounds great",
            "why not",
            "alright",
            "all right",
            "okay",
            "ok",
            "fine",
            "i can do that",
            "works for me",
            "count me in",
            "of course",
            "definitely",
            "absolutely",
        ],
    },
    "no": {
        "ru": [
            "нет",
            "наверное нет",
            "скорее нет",
            "пожалуй нет",
            "нет наверное",
            "не думаю",
            "вряд ли",
            "не получится",
            "не смогу",
            "не выйдет",
            "не в этот раз",
            "не стоит",
            "мне не надо",
            "не надо",
            "не нужно",
            "не хочется",
            "не хочу",
            "откажусь",
            "воздержусь",
            "пожалуй воздержусь",
            "пожалуй откажусь",
            "обойдусь",
            "я пас",
            "пас",
            "не спасибо",
            "не буду",
            "не стану",
            "не интересно",
            "неинтересно",
            "спасибо не надо",
            "нет спасибо",
        ],
        "en": [
            "no",
            "nope",
            "i don't think so",
            "i don't think",
            "probably not",
            "not really",
            "i doubt it",
            "i doubt",
            "i'd rather not",
            "i can't",
            "i cannot",
            "i won't",
            "not this time",
            "no thank you",
            "no thanks",
            "i'll pass",
            "not interested",
            "i'm good",
            "i'm fine thanks",
            "not for me",
        ],
    },
    # "Are you a robot?": answered honestly, then the conversation goes on.
    "robot": {
        "ru": [
            "вы робот",
            "ты робот",
            "это робот",
            "с роботом",
            "вы бот",
            "ты бот",
            "это бот",
            "вы живой человек",
            "ты живой человек",
            "это живой человек",
            "вы человек",
            "вы настоящий человек",
            "вы настоящая",
            "вы живая",
            "вы живой",
            "вы автомат",
            "это автомат",
            "автоматический звонок",
            "это запись",
            "это автоответчик",
            "вы нейросеть",
            "с нейросетью",
            "с ботом",
            "с машиной",
            "с автоответчиком",
            "с компьютером",
            "с программой",
            "это нейросеть",
            "искусственный интеллект",
            "вы машина",
            "с кем я говорю",
            "с кем я разговариваю",
            "кто это",
            "кто говорит",
        ],
        "en": [
            "are you a robot",
            "is this a robot",
            "are you a bot",
            "is this a bot",
            "are you real",
            "are you a real person",
            "are you human",
            "are you a human",
            "is this a real person",
            "is this a person",
            "are you a person",
            "am i talking to a machine",
            "am i talking to a robot",
            "am i talking to a computer",
            "am i speaking to a computer",
            "am i speaking to a machine",
            "is this automated",
            "is this an automated call",
            "is this a recording",
            "are you ai",
            "are you an ai",
            "is this ai",
            "are you a computer",
            "are you a machine",
            "who am i talking to",
            "who is this",
            "am i talking to a real person",
        ],
    },
    # "A person, please": never taken as a yes.
    "human": {
        "ru": [
            "позовите администратора",
            "позовите человека",
            "позовите менеджера",
            "позовите оператора",
            "соедините с администратором",
            "соедините с человеком",
            "соедините с оператором",
            "соедините с менеджером",
            "переключите на оператора",
            "переключите на человека",
            "переключите на администратора",
            "поговорить с администратором",
            "поговорить с человеком",
            "поговорить с живым человеком",
            "поговорить с живым",
            "поговорить с оператором",
            "поговорить с менеджером",
            "поговорить с врачом",
            "живого человека",
            "с живым человеком",
            "дайте человека",
            "хочу с человеком",
            "с оператором",
            "администратора можно",
            "можно администратора",
            "можно с человеком",
            "можно человека",
            "нужен человек",
            "нужен администратор",
            "хочу поговорить с живым",
        ],
        "en": [
            "speak to a person",
            "talk to a person",
            "speak with a person",
            "speak to a human",
            "talk to a human",
            "speak to someone",
            "talk to someone",
            "speak with someone",
            "a real person please",
            "a human please",
            "get me a person",
            "get me a human",
            "transfer me",
            "put me through",
            "connect me",
            "an operator",
            "a representative",
            "speak to the front desk",
            "talk to the front desk",
            "speak to the receptionist",
            "talk to the receptionist",
            "speak to a manager",
            "talk to a manager",
            "a live person",
            "live agent",
            "speak to a real person",
            "talk to a real person",
            "someone real",
        ],
    },
    "wrong_person": {
        "ru": [
            "вы ошиблись номером",
            "ошиблись номером",
            "вы ошиблись",
            "не туда попали",
            "не туда звоните",
            "неправильный номер",
            "здесь таких нет",
            "здесь такой нет",
            "здесь такого нет",
            "тут такой нет",
            "тут такого нет",
            "такой здесь нет",
            "такого здесь нет",
            "такой здесь не живет",
            "такого здесь не живет",
            "это не мой номер",
            "я не знаю такую",
            "я не знаю такого",
            "нет здесь такой",
            "нет здесь такого",
            "номер сменился",
            "у меня новый номер",
            "нет таких",
            "таких нет",
            "нет такой",
            "такой нет",
            "нет такого",
            "такого нет",
            "не знаю никакой",
            "не знаю никакого",
            "не знаю таких",
            "нет никакой",
            "кого-то другого",
            "не того человека",
            "не тому человеку",
            "такая тут не живет",
            "такая здесь не живет",
            "такой тут не живет",
            "у меня этот номер",
            "нет никакого",
            "это другой человек",
            "я купила этот номер",
            "я купил этот номер",
            "номер недавно",
        ],
        "en": [
            "wrong number",
            "you have the wrong number",
            "you've got the wrong number",
            "no one here by that name",
            "nobody here by that name",
            "no one by that name",
            "there's no one here called",
            "you have the wrong person",
            "wrong person",
            "this isn't her number",
            "this isn't his number",
            "i don't know anyone named",
            "i don't know who that is",
            "never heard of",
            "not my name",
            "nobody by that name",
            "no one named",
            "nobody named",
            "don't know any",
            "don't know anybody",
            "just got this number",
            "got this number recently",
            "new number",
            "there's nobody",
            "no such person",
        ],
    },
    # "Sorry, what?": the step again.
    "repeat": {
        "ru": [
            "повторите",
            "что вы сказали",
            "еще раз",
            "не расслышал",
            "не расслышала",
            "не понял",
            "не поняла",
            "что что",
            "алло",
            "что",
            "простите что",
            "извините что",
            "не слышно",
        ],
        "en": [
            "what",
            "sorry",
            "pardon",
            "excuse me",
            "come again",
            "say that again",
            "repeat that",
            "could you repeat",
            "i didn't catch that",
            "i didn't hear you",
            "i didn't understand",
            "hello",
            "what did you say",
            "huh",
        ],
    },
}
# Said before a yes, they make it a no: "I don't think I can make it", «не думаю, что получится».
DOUBTS = {
    "ru": ["не думаю", "вряд ли", "не уверен", "не уверена", "сомневаюсь", "скорее нет", "наверное нет"],
    "en": ["i don't think", "i doubt", "not sure", "i'm not sure", "unlikely", "probably not"],
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


# Contractions typed or transcribed without their apostrophe.
_CONTRACTIONS = {
    "dont": "don't", "cant": "can't", "wont": "won't", "im": "i'm", "didnt": "didn't", "doesnt": "doesn't",
    "isnt": "isn't", "ive": "i've", "youre": "you're", "thats": "that's", "whats": "what's", "wasnt": "wasn't",
    "couldnt": "couldn't", "wouldnt": "wouldn't", "shouldnt": "shouldn't", "theres": "there's", "ill": "i'll",
}  # fmt: skip


def normalise(text: str) -> str:
    text = _NOT_WORD.sub(" ", text.lower().replace("ё", "е").replace("’", "'"))
    return " ".join(_CONTRACTIONS.get(word, word) for word in _SPACES.split(text.strip()))


def words(text: str) -> list[str]:
    return normalise(text).split()


_CYRILLIC = re.compile(r"[а-я]")
_STEMMERS = {"ru": snowballstemmer.stemmer("russian"), "en": snowballstemmer.stemmer("english")}


@lru_cache(maxsize=65536)
def root(word: str) -> str:
    """The word's Snowball stem (Russian or English by its letters): "живым" and "живой" → "жив"."""
    return _STEMMERS["ru" if _CYRILLIC.search(word) else "en"].stemWord(word)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude stem: words of up to four letters stay whole, longer ones lose up to two letters of
    ending but keep at least four ("перезвоните" → "перезвони", "can't" → "can'", never "can")."""
    if len(word) <= 4:
        return word
    return word[: max(4, len(word) - 2)]


def word_matches(phrase_word: str, token: str) -> bool:
    """The same word in another form: equal when short, else sharing a crude stem (a prefix) or a
    Snowball stem of at least three letters ("живой" ~ "живым", "парковка" ~ "парковку")."""
    if len(phrase_word) <= 4 or len(token) <= 4:
        return phrase_word == token
    if token.startswith(stem(phrase_word)) or phrase_word.startswith(stem(token)):
        return True
    common = root(phrase_word)
    return len(common) >= 3 and common == root(token)


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


def find_phrase(phrase: Phrase, tokens: list[str], matches: Callable[[str, str], bool] | None = None) -> bool:
    """Phrase words in order, at most one stray word between them, not negated."""
    matches = matches or word_matches
    first = phrase.words[0]
    for start, token in enumerate(tokens):
        if not matches(first, token):
            continue
        if start > 0 and tokens[start - 1] in NEGATIONS and first not in NEGATIONS and not first.startswith("ник"):
            continue  # «не звоните» is not «звоните»; «нет никакой Анны» is still «никакой Анны»
        position, ok = start, True
        for word in phrase.words[1:]:
            window = tokens[position + 1 : position + 3]
            hit = next((i for i, t in enumerate(window) if matches(word, t)), None)
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
        if phrase.weight > found.get(phrase.intent, 0) and find_phrase(phrase, tokens):
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
