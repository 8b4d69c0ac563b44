"""Reading a value of a given type out of what the callee said (or what an LLM passed to a tool)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import phonenumbers

from voiceagent.flow.matching import best_intent, compile_phrases, words
from voiceagent.flow.render import say_datetime
from voiceagent.flow.when import parse_when

_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_YES_NO = compile_phrases(
    {
        "yes": {"ru": ["да", "конечно", "верно", "согласен", "согласна", "ага"], "en": ["yes", "yeah", "sure", "correct", "right"]},
        "no": {"ru": ["нет", "не", "неверно"], "en": ["no", "nope", "not"]},
    }
)


def extract(kind: str, text: str, *, language: str, tz: str, now: dt.datetime | None = None) -> tuple[Any, str] | None:
    """``(value, shown)``: the machine value and how the bot says it; None when the text has none."""
    text = (text or "").strip()
    if not text:
        return None
    if kind in ("datetime", "date", "time"):
        return _moment(kind, text, language=language, tz=tz, now=now)
    if kind == "number":
        match = _NUMBER.search(text)
        return (match.group(0).replace(",", "."), match.group(0)) if match else None
    if kind == "email":
        match = _EMAIL.search(text)
        return (match.group(0).lower(), match.group(0).lower()) if match else None
    if kind == "phone":
        return _phone(text)
    if kind == "yes_no":
        answer = best_intent(text, _YES_NO, ["no", "yes"])
        return (answer, answer) if answer else None
    return (text, text) if words(text) else None


def _moment(kind: str, text: str, *, language: str, tz: str, now: dt.datetime | None) -> tuple[str, str] | None:
    try:  # an LLM passing an ISO value
        moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            from zoneinfo import ZoneInfo

            moment = moment.replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        moment = parse_when(text, language=language, tz=tz, now=now)
    if moment is None:
        return None
    if kind == "date":
        return moment.date().isoformat(), say_datetime(moment, language).rsplit(",", 1)[0]
    if kind == "time":
        return moment.strftime("%H:%M"), moment.strftime("%H:%M")
    return moment.isoformat(), say_datetime(moment, language)


def _phone(text: str) -> tuple[str, str] | None:
    for match in phonenumbers.PhoneNumberMatcher(text, "RU"):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        return e164, e164
    return None
