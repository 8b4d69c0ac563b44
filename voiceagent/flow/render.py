"""Saying values the way people say them (templates are filled by ``skillbases.rendering``)."""

from __future__ import annotations

import datetime as dt

RU_WEEKDAYS = ["понедельник", "вторник", "среду", "четверг", "пятницу", "субботу", "воскресенье"]
RU_MONTHS = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября", "декабря"]


def say_datetime(moment: dt.datetime, language: str) -> str:
    if language.lower().startswith("ru"):
        return f"{RU_WEEKDAYS[moment.weekday()]}, {moment.day} {RU_MONTHS[moment.month - 1]}, в {moment:%H:%M}"
    hour = moment.strftime("%I:%M %p").lstrip("0")
    return f"{moment:%A}, {moment:%B} {moment.day} at {hour}"
