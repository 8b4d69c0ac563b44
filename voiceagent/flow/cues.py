"""What a line means by the shape of what it says, where listing phrases falls short.

A request for a person is a person (администратор, manager, someone) wanted (позовите, можно,
talk to); "are you a robot" is a machine word said of the bot; being busy is a place or an
activity ("I'm at the doctor's", «гуляю с ребёнком»). Each detector reads the normalised line
(``matching.normalise``) and says only whether the cue is there; the engine weighs it against the
script's own intents.
"""

from __future__ import annotations

import re

# People who can take over the call.
_PERSON_RU = (
    r"(?:человек\w*|живо\w*|администратор\w*|админ\w*|менеджер\w*|оператор\w*|сотрудник\w*|управляющ\w*|руководител\w*|"
    r"директор\w*|начальств\w*|начальник\w*|консультант\w*|хозяйк\w*|хозяин\w*|владел\w*|кого-нибудь|кого-то|"
    r"кем-нибудь|кем-то|ресепшн\w*|регистратур\w*)"
)
_PERSON_EN = (
    r"(?:person|human|someone|somebody|anyone|anybody|receptionist|manager|operator|representative|agent|staff|supervisor|owner|"
    r"front desk|employee)"
)
_ROLE_EN = r"(?:person|human|receptionist|manager|operator|representative|supervisor|front desk|employee)"
_WANT_RU = (
    r"(?:поговорить|говорить|пообщаться|общаться|связаться|мне бы|соедините|соединить|переключите|переключить|позовите|позвать|"
    r"дайте|можно|хочу|хотела?|нужен|нужна|"
    r"пригласите|передайте|свяжите|есть ли|где)"
)
_HUMAN = (
    re.compile(rf"\b{_WANT_RU}\b(?:\s+\S+){{0,4}}?\s+(?:с\s+|со\s+)?{_PERSON_RU}"),
    re.compile(rf"\b{_PERSON_RU}(?:\s+\S+){{0,3}}?\s+(?:к телефону|позовите)\b"),
    re.compile(r"\bк телефону\b"),
    # Said alone: «администратора, пожалуйста», "operator please".
    re.compile(
        rf"^(?:\S+\s+)?(?:{_PERSON_RU}|(?:a\s+|an\s+)?(?:operator|receptionist|representative|human|real person|live person|agent))"
        r"(?:\s+please|\s+пожалуйста)?$"
    ),
    re.compile(rf"\b(?:talk|speak|chat)\s+(?:to|with)\s+(?:\S+\s+){{0,3}}{_PERSON_EN}\b"),
    re.compile(r"\b(?:connect|transfer|put)\s+me\b"),
    re.compile(rf"\b(?:get|give|let)\s+me\s+(?:\S+\s+){{0,2}}{_PERSON_EN}\b"),
    re.compile(rf"\b(?:is there|i want|i'd like|i need|can i have|could i have|i'd rather have)\s+(?:\S+\s+){{0,3}}{_ROLE_EN}\b"),
)
_NOT_WANTED = re.compile(
    r"\b(?:не надо|не нужно|не хочу|no need|don't need|don't want)\b(?:\s+\S+){0,2}\s+(?:человек|person|human|someone)"
)

# A machine, said of the one speaking.
_MACHINE = (
    r"(?:робот\w*|бот|ботом|автомат\w*|машин\w*|компьютер\w*|нейросет\w*|программ\w*|автоответчик\w*|искусственн\w*|"
    r"robot|bot|machine|computer|automated|automatic|ai|program|software|artificial)"
)
_ROBOT = (
    re.compile(rf"\b(?:вы|ты|это|говорю с|разговариваю с|говорю со|общаюсь с)\s+(?:\S+\s+)?{_MACHINE}\b"),
    re.compile(rf"\b{_MACHINE}\s+(?:что ли|звонит|говорит|разговаривает)\b"),
    re.compile(
        rf"\b(?:are you|is this|is that|am i talking to|am i speaking to|sound like|you're|you are)\s+(?:\S+\s+){{0,2}}{_MACHINE}\b"
    ),
    re.compile(r"\b(?:живой|живая|настоящий|настоящая|реальный|реальная)\s+(?:человек\s+)?(?:или|вообще|$)"),
    re.compile(r"\b(?:are you|is this)\s+(?:a\s+)?(?:real|live|actual)\s+(?:person|human)\b|\bare you (?:real|human|a human|alive)\b"),
)

# Busy now: where the callee is, or what they are doing.
_BUSY = re.compile(
    r"\b(?:"
    r"занят\w*|за рулем|в дороге|в пути|в метро|в машине|на работе|на встрече|на совещании|на собрании|на паре|на уроке|на приеме|"
    r"у врача|в больнице|в магазине|в очереди|на улице|гуляю|с ребенком|с детьми|сплю|спала|спал|на созвоне|в самолете|в поезде|"
    r"не до того|не до этого|не до вас|не вовремя|неудобно|не могу говорить|не могу разговаривать|некогда|нет времени|"
    r"busy|driving|in the car|on the road|on my way|at work|in a meeting|into a meeting|in class|at the doctor|at the store|"
    r"at the grocery|at the hospital|in the middle of something|not a good moment|not a good time|bad time|can't talk|cannot talk|"
    r"can't really talk|no time|with a client|with the kids|on another call|on the other line|at the gym|in the shower|asleep"
    r")\b"
)
# "Call me some other time" without a time.
_LATER = re.compile(
    r"\b(?:потом|позже|попозже|в другой раз|другое время|как-нибудь|когда-нибудь|later|some other time|another time|sometime|"
    r"some time|try again|call again|ring again)\b"
)


def wants_person(text: str) -> bool:
    return any(pattern.search(text) for pattern in _HUMAN) and not _NOT_WANTED.search(text)


def asks_if_machine(text: str) -> bool:
    return any(pattern.search(text) for pattern in _ROBOT)


def is_busy(text: str) -> bool:
    return bool(_BUSY.search(text))


def later(text: str) -> bool:
    return bool(_LATER.search(text))
