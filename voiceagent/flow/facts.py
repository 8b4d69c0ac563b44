"""Answering a callee's question from the skillbase's facts, offline.

A fact ("Адрес: Москва, Цветочный бульвар, 12, вход со двора; во дворе бесплатная парковка.") is cut
into clauses. A question scores each clause: a topic the question asks about ("где вы находитесь",
"is there parking") that the clause speaks of counts most, shared content words (compared by stem,
so "парковку" finds "парковка") count too. The answer is the best clause, or the best fact's
matching clauses joined, said as one sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voiceagent.flow.matching import Phrase, compile_phrases, find_phrase, root, word_matches, words

# Topics a caller asks about: what a question says, and what a fact that answers it says.
TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "address": (
        ["где", "адрес", "находитесь", "находится", "расположены", "добраться", "доехать", "проехать", "как вас найти",
         "как найти", "метро", "куда ехать", "куда приходить", "куда подъехать", "заходить", "вход", "подъезд", "с улицы",
         "какой район", "в каком районе",
         "where", "address", "located", "location", "directions", "get there", "find you", "which street", "get to you",
         "how do i get", "how to get", "get to the", "which office", "what office", "entrance", "what floor", "which floor",
         "what neighborhood", "what area"],
        ["адрес", "улица", "ул", "бульвар", "проспект", "переулок", "шоссе", "дом", "вход", "метро", "этаж",
         "address", "street", "avenue", "road", "suite", "floor", "entrance", "located"],
    ),
    "hours": (
        ["часы работы", "до скольки", "во сколько", "со скольки", "с какого часа", "до какого часа", "когда работаете",
         "работаете", "открыты", "открываетесь", "закрываетесь", "выходной", "выходные", "режим работы", "график",
         "hours", "open", "opening", "close", "closing", "what time", "weekend", "weekends"],
        ["работаем", "работает", "открыт", "открыты", "закрыт", "выходной", "ежедневно", "каждый день",
         "open", "closed", "daily", "monday", "saturday", "sunday"],
    ),
    "price": (
        ["сколько стоит", "сколько стоят", "сколько будет стоить", "цена", "цены", "цене", "цену", "ценам", "стоимость",
         "почем", "по чем", "прайс", "дорого", "по деньгам", "сколько денег", "сколько будет", "сколько это", "сколько выйдет",
         "во сколько обойдется", "обойдется", "расценки",
         "how much", "price", "prices", "cost", "costs", "fee", "fees", "charge", "expensive", "rate"],
        ["руб", "рублей", "цена", "стоит", "стоимость", "usd", "dollars", "price", "fee", "cost"],
    ),
    "parking": (
        ["парковка", "парковки", "припарковаться", "парковаться", "машину поставить", "поставить машину", "оставить машину",
         "на машине", "машину", "машиной", "авто",
         "parking", "park", "car"],
        ["парковка", "парковку", "parking", "park", "garage"],
    ),
    "payment": (
        ["оплата", "оплатить", "платить", "картой", "наличными", "наличные", "расплатиться", "терминал", "перевод",
         "pay", "payment", "card", "cash", "credit", "insurance", "accept"],
        ["оплата", "картой", "наличными", "наличные", "pay", "payment", "cash", "accept", "credit"],
    ),
    "changes": (
        ["отменить", "отмена", "перенести", "перенос", "поменять время", "если не смогу", "если опоздаю",
         "cancel", "cancellation", "reschedule", "move", "change", "if i can't", "late"],
        ["отменить", "перенести", "отмена", "cancel", "cancelled", "moved", "reschedule", "change"],
    ),
    "arrival": (
        ["заранее", "за сколько прийти", "за сколько приходить", "раньше прийти", "пораньше", "опаздывать", "how early",
         "come early", "get there early", "arrive", "before my appointment", "ahead of time", "what time should i come"],
        ["заранее", "раньше", "пораньше", "early", "arrive", "ahead"],
    ),
    "bring": (
        ["что взять", "взять с собой", "с собой", "что нужно", "что принести", "нужны документы", "паспорт",
         "bring", "need to bring", "should i bring", "documents", "what do i need", "id", "arrive"],
        ["взять", "с собой", "принести", "паспорт", "документ", "bring", "id", "card", "arrive", "early"],
    ),
    "doctor": (
        ["врач", "доктор", "мастер", "к кому", "кто будет", "специалист", "кто делает", "кто ведет", "кто принимает",
         "doctor", "dentist", "dr", "who will", "who is", "which doctor", "specialist", "hygienist", "who does", "who do",
         "who can", "who handles"],
        ["врач", "доктор", "мастер", "dr", "doctor", "dentist"],
    ),
    "appointment": (
        ["моя запись", "на когда я записан", "на когда я записана", "когда у меня", "на какое время", "во сколько мне",
         "my appointment", "when is my", "what time is my", "what day is my", "when am i"],
        ["appointment", "visit", "запись", "записаны", "визит"],
    ),
    "discount": (
        ["скидка", "скидки", "акция", "акции", "дешевле", "discount", "deal", "offer", "promotion", "sale"],
        ["скидка", "акция", "discount", "offer", "promotion", "%"],
    ),
    "reminder": (
        ["напомните", "напоминание", "смс", "sms", "подтверждение", "remind", "reminder", "text", "confirmation", "message"],
        ["напоминание", "смс", "sms", "text", "texts", "confirmation", "remind"],
    ),
}  # fmt: skip
# What a caller calls a thing, and what a business's facts call it: "braces" are orthodontics.
CONCEPTS: dict[str, list[str]] = {
    "braces": ["orthodontics", "orthodontist", "orthodontic"], "aligners": ["orthodontics", "orthodontist"],
    "cleaning": ["hygiene", "hygienist", "cleanings"], "whitening": ["whitening", "cosmetic"],
    "checkup": ["general", "dentistry", "exam"], "filling": ["general", "dentistry"], "cavity": ["general", "dentistry"],
    "брекеты": ["ортодонт", "ортодонтия"], "чистку": ["гигиена", "чистка"], "ногти": ["маникюр", "педикюр"],
    "волосы": ["стрижка", "окрашивание"], "покраситься": ["окрашивание"], "подстричься": ["стрижка"],
    "брови": ["бровей", "брови"], "лицо": ["лица", "чистка"], "заходить": ["вход"], "зайти": ["вход"],
    "машину": ["парковка"], "парковаться": ["парковка"],
}  # fmt: skip
# Words that say nothing about which fact is meant.
STOPWORDS = frozenset(
    "а и в во на с со к ко у о об от до по за из для не ни ли же бы то это что как где когда какой какая какие "
    "вы вас вам ваш ваши мы нас нам наш у меня мне я он она они есть будет можно нужно а ну скажите подскажите "
    "a an the and or of to in on at for with by from is are am be do does did can could will would should i you "
    "your we our us it this that what which who how where when there here my me have has please tell".split()
)
QUESTION_WORDS = frozenset(
    "где когда сколько какой какая какое какие каких каком как кто кого кому почему зачем что чем куда откуда ли "
    "можно есть подскажите скажите where when what what's which who whom how why is are do does can could will "
    "would should any".split()
)
_CLAUSES = re.compile(r"\s*[;]\s*|(?<=[.!?])\s+")
# Abbreviations a sentence does not end at: "Dr. Patel", "ул. Ленина".
_ABBREVIATIONS = re.compile(r"(?:^|\s)(?:dr|mr|mrs|ms|st|ave|no|ул|д|пр|г|им|кв|стр|корп)\.$", re.IGNORECASE)
_LABEL = re.compile(r"^[\w ]{2,20}:\s+")  # "Адрес: ..." is said without its label


@dataclass(frozen=True)
class _Clause:
    text: str
    tokens: tuple[str, ...]
    fact: int


def same_word(cue: str, token: str) -> bool:
    """Stricter than the script's matching, for the short words topics are told by: "почем" is
    not "почему", "цена" finds "цену" only through its listed forms."""
    if cue == token:
        return True
    common = root(cue)
    return (len(common) >= 4 and common == root(token)) or (len(cue) >= 7 and word_matches(cue, token))


# Asking words that make a line a question wherever they stand; and "will I", "is that", «ли».
_ASKING = frozenset("где когда сколько скольки какого каком кто куда откуда почему зачем почем who where when which why how".split())
_INVERSION = re.compile(r"\b(?:will|can|could|do|does|did|should|is|are|would|may)\s+(?:i|you|we|it|there|that|this|they)\b|\bли\b")


def asks_when(text: str) -> bool:
    """Whether the line asks for something ("во сколько вы открываетесь утром?") rather than gives a time."""
    return any(t in _ASKING for t in words(text))


def is_question(text: str) -> bool:
    tokens = words(text)
    if "?" in text or not tokens:
        return "?" in text
    return (
        tokens[0] in QUESTION_WORDS
        or any(t in QUESTION_WORDS for t in tokens[:4])
        or any(t in _ASKING for t in tokens)
        or bool(_INVERSION.search(" ".join(tokens)))
    )


class FactBook:
    def __init__(self, facts: list[str]):
        self.clauses: list[_Clause] = []
        for index, fact in enumerate(facts):
            for part in _split(fact):
                self.clauses.append(_Clause(part, tuple(words(part)), index))
        self._topics: dict[str, tuple[list[Phrase], list[Phrase]]] = {
            name: (compile_phrases({name: {"": asks}}), compile_phrases({name: {"": says}})) for name, (asks, says) in TOPICS.items()
        }

    def topics(self, text: str) -> set[str]:
        """The topics a line asks about ("address", "price", ...)."""
        return self._asked(words(text))

    def speaks_of(self, topic: str, text: str) -> bool:
        """Whether ``text`` (what the script says next) speaks of ``topic``."""
        tokens = words(text)
        return any(find_phrase(p, tokens, same_word) for p in self._topics[topic][1])

    def _asked(self, tokens: list[str]) -> set[str]:
        return {name for name, (asks, _says) in self._topics.items() if any(find_phrase(p, tokens, same_word) for p in asks)}

    def _score(self, clause: _Clause, tokens: list[str], asked: set[str]) -> int:
        score = 0
        raw = clause.text.lower()
        for name in asked:
            says = self._topics[name][1]
            if any(find_phrase(p, list(clause.tokens), same_word) for p in says) or any(
                sign in raw for sign in ("₽", "$", "%") if name in ("price", "discount")
            ):
                score += 3
        score += sum(1 for t in _content(tokens) if self._mentions(clause, t))
        return score

    @staticmethod
    def _mentions(clause: _Clause, token: str) -> bool:
        """Whether the clause speaks of the question's word, or of what the facts call it."""
        names = [token, *next((also for key, also in CONCEPTS.items() if same_word(key, token)), [])]
        return any(word_matches(name, c) for name in names for c in clause.tokens if c not in STOPWORDS)

    def _distinctive(self, tokens: list[str]) -> bool:
        """A word of the question that one fact alone speaks of ("suite", "Brooklyn"): enough for a question."""
        for token in _content(tokens):
            if len(token) < 4:
                continue
            facts = {c.fact for c in self.clauses if self._mentions(c, token)}
            if len(facts) == 1:
                return True
        return False

    def answer(self, text: str) -> str | None:
        """One sentence from the facts that answers ``text``; None when none does."""
        found = self.lookup(text)
        return found[0] if found else None

    def lookup(self, text: str) -> tuple[str, set[str]] | None:
        """The answer, and the question's words it was found by beyond its topic ("чистку", "лица"
        in «Какая цена на чистку лица?»): the script's own answer to a question of that topic may
        not speak of them."""
        tokens = words(text)
        if not tokens or not self.clauses:
            return None
        asked = self._asked(tokens)
        question = is_question(text)
        if not asked and not question:
            return None
        scored = [(self._score(c, tokens, asked), i) for i, c in enumerate(self.clauses)]
        best = max(score for score, _ in scored)
        # A topic the question names and the fact speaks of, or (for a question) two shared words, or
        # one only that fact has.
        if best < 3 and not (question and (best >= 2 or best >= 1 and self._distinctive(tokens))):
            return None
        fact = next(self.clauses[i].fact for score, i in scored if score == best)
        # The fact's clauses that speak of the topic asked about: "open Monday to Friday...; closed on Sunday".
        chosen = [self.clauses[i] for score, i in scored if self.clauses[i].fact == fact and (score == best or score >= 3 and asked)]
        # The topic's own cue words ("адрес" in «подскажите адрес») are not specific: any answer of the topic has them.
        cues = {t for t in tokens for name in asked for phrase in self._topics[name][0] if any(same_word(w, t) for w in phrase.words)}
        specific = {t for t in _content(tokens) if t not in cues and any(self._mentions(clause, t) for clause in chosen)}
        return _sentence([c.text for c in chosen]), specific


def _content(tokens: list[str]) -> set[str]:
    return {t for t in tokens if t not in STOPWORDS and len(t) > 2}


def _split(fact: str) -> list[str]:
    parts: list[str] = []
    for piece in _CLAUSES.split(fact.strip()):
        if parts and _ABBREVIATIONS.search(parts[-1]):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return [p.strip().rstrip(";") for p in parts if p.strip().rstrip(".;")]


def _sentence(parts: list[str]) -> str:
    text = "; ".join((_LABEL.sub("", part) if i else part).rstrip(".") for i, part in enumerate(parts))
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
