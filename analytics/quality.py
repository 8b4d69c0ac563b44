"""How a call went for the callee: sentiment and QA flags, from the transcript alone.

Sentiment is lexicon-based (Russian and English) and needs no provider: each sentiment word of the
callee counts +1 or -1, and a negation up to three words before it, in the same clause, flips it ("не интересно",
"not bad"). The score is the mean over those words, in [-1, 1].
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from difflib import SequenceMatcher

CLAUSE = re.compile(r"[,.;:!?—–]+")
WORD = re.compile(r"[a-zа-яё']+", re.IGNORECASE)
NEGATION_REACH = 3
POSITIVE_AT = 0.25

# Whole words (short ones would match too much as stems) and stems (matched as word prefixes).
POSITIVE_WORDS = {
    "да", "рад", "рада", "ок", "окей", "ладно", "давайте", "конечно", "супер", "класс",
    "yes", "yeah", "yep", "sure", "ok", "okay", "good", "great", "fine", "glad", "nice", "love", "perfect", "thanks",
    "thank", "excellent", "wonderful", "happy", "helpful", "convenient", "interested", "interesting", "awesome", "lovely",
}  # fmt: skip
POSITIVE_STEMS = (
    "хорош", "отличн", "прекрасн", "спасиб", "замечательн", "здоров", "удобн", "согласн", "подходит", "интересн",
    "с удовольств", "благодар", "любл", "нрав", "понрав", "вежлив", "приятн", "идеальн", "устраива", "неплох",
    "no problem", "без проблем",
)  # fmt: skip
# A plain "no" is an answer, not a feeling: refusing politely is neutral.
NEGATIVE_WORDS = {
    "хватит", "спам", "зачем", "отстаньте", "отстань", "бесят", "бесит", "бесите", "bad", "terrible", "awful", "stop", "spam",
    "hate", "angry", "never", "waste", "scam", "rude", "useless", "annoying", "annoyed", "horrible", "disappointed",
    "unhappy", "worst", "ridiculous", "stupid", "leave",
}  # fmt: skip
NEGATIVE_STEMS = (
    "плох", "ужасн", "надоел", "раздража", "неудобн", "достал", "бесит", "жалоб", "груб", "отвратит", "злю",
    "обман", "мошен", "кошмар", "надоед", "неприятн", "бесполезн", "издева",
)  # fmt: skip
NEGATIVE_PHRASES = ("больше никогда", "сколько можно", "what a waste", "waste of")
# Polite ways to say "not now" / "no": neutral, whatever their words would score ("неудобно", "bad", "thanks").
NEUTRAL_PHRASES = tuple(
    re.compile(r"\b" + r"[\s,]+".join(re.escape(w) for w in phrase.split()) + r"\b")
    for phrase in (
        "сейчас неудобно", "неудобно сейчас", "неудобно говорить", "мне неудобно", "не очень удобно", "нет спасибо",
        "в другой раз", "not a good time", "bad time", "no thanks", "no thank you", "another time", "i'm fine",
        "i'm good", "not convenient",
    )
)  # fmt: skip
NEUTRAL_WORDS = frozenset({"неудобно"})  # "сейчас неудобно": about the time, not the caller
NEGATORS = {"не", "ни", "без", "not", "never", "no", "dont", "don't", "isnt", "isn't", "wasnt", "wasn't", "cant", "can't", "wont",
            "won't", "didnt", "didn't", "doesnt", "doesn't", "nothing"}  # fmt: skip

ASKS_FOR_HUMAN = (
    "оператор", "живой человек", "живого человека", "живым человеком", "с человеком", "менеджер", "соедините",
    "human", "real person", "operator", "representative", "speak to someone", "talk to someone", "talk to a person",
    "speak to a person", "a manager",
)  # fmt: skip
LONG_RESPONSE_MS = 3000  # a reply slower than this is dead air the bot caused
SILENT_TURNS = 2  # the callee said nothing this many times: the line went dead or they left


def _polarity(word: str) -> int:
    if word in NEUTRAL_WORDS:
        return 0
    if word in POSITIVE_WORDS or any(word.startswith(stem) for stem in POSITIVE_STEMS if " " not in stem):
        return 1
    if word in NEGATIVE_WORDS or any(word.startswith(stem) for stem in NEGATIVE_STEMS):
        return -1
    return 0


def sentiment(lines: Iterable[str]) -> tuple[float | None, str]:
    """The callee's sentiment over their lines: (score in [-1, 1], label), or (None, "") if they said nothing."""
    votes: list[int] = []
    spoke = False
    for line in lines:
        text = line.lower().replace("ё", "е").replace("’", "'")
        if not text.strip():
            continue
        spoke = True
        for pattern in NEUTRAL_PHRASES:
            text = pattern.sub(" ", text)
        for phrase in POSITIVE_STEMS:
            if " " in phrase and phrase in text:
                votes.append(1)
                text = text.replace(phrase, " ")
        for phrase in NEGATIVE_PHRASES:
            if phrase in text:
                votes.append(-1)
        for clause in CLAUSE.split(text):  # a negation reaches no further than its clause
            words = WORD.findall(clause)
            negation_left = 0  # words a negation still reaches
            for i, word in enumerate(words):
                if word in NEGATORS and any(_polarity(w) for w in words[i + 1 : i + 1 + NEGATION_REACH] if w not in NEGATORS):
                    negation_left = NEGATION_REACH  # "no problem", "не плохо": the negator only turns what follows
                    continue
                polarity = _polarity(word)
                if polarity:
                    votes.append(-polarity if negation_left else polarity)
                    negation_left = 0  # it turns one word: "не плохо, спасибо" is two good things
                else:
                    negation_left = max(negation_left - 1, 0)
    if not spoke:
        return None, ""
    if not votes:
        return 0.0, "neutral"
    score = round(sum(votes) / len(votes), 3)
    label = "positive" if score >= POSITIVE_AT else "negative" if score <= -POSITIVE_AT else "neutral"
    return score, label


def _normal(text: str) -> str:
    return " ".join(WORD.findall(text.lower()))


def qa_flags(user_lines: list[str], bot_lines: list[str], latencies_ms: list[float], away: int = 0) -> list[dict[str, str]]:
    """What a reviewer should look at: dead air, the bot repeating itself, the callee asking for a human."""
    flags = []
    silent = sum(1 for line in user_lines if not line.strip()) + away
    slow = [ms for ms in latencies_ms if ms > LONG_RESPONSE_MS]
    if silent >= SILENT_TURNS or slow:
        parts = []
        if silent >= SILENT_TURNS:
            parts.append(f"the callee was silent {silent} times")
        if slow:
            parts.append(f"{len(slow)} replies took over {LONG_RESPONSE_MS / 1000:g} s (slowest {max(slow) / 1000:.1f} s)")
        flags.append({"flag": "dead_air", "detail": "; ".join(parts)})
    said = [_normal(line) for line in bot_lines if len(_normal(line)) >= 12]
    for i, line in enumerate(said):
        repeat = next((other for other in said[i + 1 :] if SequenceMatcher(None, line, other).ratio() >= 0.9), None)
        if repeat is not None:
            flags.append({"flag": "bot_repeated", "detail": f"said twice: {line[:120]}"})
            break
    for line in user_lines:
        lowered = line.lower()
        phrase = next((p for p in ASKS_FOR_HUMAN if p in lowered), None)
        if phrase:
            flags.append({"flag": "asked_for_human", "detail": line[:200]})
            break
    return flags
