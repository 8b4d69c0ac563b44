"""A business's opening hours: whether a moment a callee names can be honoured, and what to offer
instead ("we close at nine; the nearest is today at eight")."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from skillbases.schemas import WEEKDAYS, ContextConfig, parse_hours

RU_DAYS = ["понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье"]
RU_DAYS_ON = ["в понедельник", "во вторник", "в среду", "в четверг", "в пятницу", "в субботу", "в воскресенье"]
EN_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# The latest start offered before closing: a visit needs some time.
LAST_START = dt.timedelta(hours=1)
# Far enough ahead for the callee to get there.
LEAD = dt.timedelta(minutes=30)


class OpeningHours:
    def __init__(self, context: ContextConfig, *, callee_timezone: str):
        self.zone = ZoneInfo(context.timezone or callee_timezone)
        # Weekday (0 = Monday) → [(opening, closing)], closing None meaning midnight.
        self.week: dict[int, list[tuple[dt.time, dt.time | None]]] = {
            WEEKDAYS.index(day): sorted(parse_hours(text) for text in intervals) for day, intervals in context.opening_hours.items()
        }
        self.known = bool(context.opening_hours)

    def _spans(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        spans = []
        for opening, closing in self.week.get(day.weekday(), []):
            start = dt.datetime.combine(day, opening, tzinfo=self.zone)
            end = (
                dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=self.zone)
                if closing is None
                else (dt.datetime.combine(day, closing, tzinfo=self.zone))
            )
            spans.append((start, end))
        return spans

    def is_open(self, moment: dt.datetime) -> bool:
        if not self.known:
            return True
        local = moment.astimezone(self.zone)
        return any(start <= local < end for start, end in self._spans(local.date()))

    def nearest(self, moment: dt.datetime, *, now: dt.datetime) -> dt.datetime | None:
        """The open moment closest to ``moment`` (on its own clock where it can be), not before
        ``now`` plus a lead; None when the business is never open."""
        if not self.known or not any(self.week.values()):
            return None
        local = moment.astimezone(self.zone)
        earliest = (now + LEAD).astimezone(self.zone)
        best: dt.datetime | None = None
        for offset in range(-7, 15):
            day = local.date() + dt.timedelta(days=offset)
            for start, end in self._spans(day):
                latest = max(start, end - LAST_START)
                wanted = dt.datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=self.zone)
                candidate = min(max(wanted, start), latest)
                if candidate < earliest:
                    if earliest > latest:
                        continue
                    candidate = _round_up(earliest)
                    if candidate > latest:
                        continue
                if best is None or abs(candidate - local) < abs(best - local):
                    best = candidate
        return best

    def describe(self, language: str, day: dt.date | None = None) -> str:
        """The hours as said: of one day ("closed on Sundays" / "today 9:00 to 21:00") or of the week."""
        russian = language.lower().startswith("ru")
        if day is not None:
            spans = self.week.get(day.weekday(), [])
            name = (RU_DAYS_ON if russian else [f"on {d}" for d in EN_DAYS])[day.weekday()]
            if not spans:
                return f"{name} мы не работаем" if russian else f"we're closed {name}"
            hours = _join([_span(o, c, russian) for o, c in spans], russian)
            return f"{name} мы работаем {hours}" if russian else f"{name} we're open {hours}"
        groups: list[tuple[list[int], list]] = []
        for weekday in range(7):
            spans = self.week.get(weekday, [])
            if groups and groups[-1][1] == spans:
                groups[-1][0].append(weekday)
            else:
                groups.append(([weekday], spans))
        parts = []
        for days, spans in groups:
            if not spans:
                continue
            names = RU_DAYS if russian else EN_DAYS
            if len(days) == 7:
                label = "каждый день" if russian else "every day"
            elif len(days) == 1:
                label = (RU_DAYS_ON if russian else [f"on {d}" for d in EN_DAYS])[days[0]]
            else:
                label = (
                    f"с понедельника по {RU_DAYS_ON[days[-1]][2:].strip()}"
                    if russian and days[0] == 0
                    else (f"{names[days[0]]} – {names[days[-1]]}" if russian else f"{names[days[0]]} to {names[days[-1]]}")
                )
            parts.append(f"{label} {_join([_span(o, c, russian) for o, c in spans], russian)}")
        if not parts:
            return "мы сейчас не работаем" if russian else "we're closed"
        said = _join(parts, russian)
        return f"мы работаем {said}" if russian else f"we're open {said}"


def _round_up(moment: dt.datetime) -> dt.datetime:
    """To the next half hour: nobody is offered 14:07."""
    extra = (-moment.minute) % 30
    return (moment + dt.timedelta(minutes=extra)).replace(second=0, microsecond=0)


def _span(opening: dt.time, closing: dt.time | None, russian: bool) -> str:
    end = "24:00" if closing is None else closing.strftime("%H:%M")
    if russian:
        return f"с {opening:%H:%M} до {end}"
    return f"{_clock_en(opening)} to {'midnight' if closing is None else _clock_en(closing)}"


def _clock_en(moment: dt.time) -> str:
    text = moment.strftime("%I:%M %p").lstrip("0")
    return text.replace(":00 ", " ")


def _join(parts: list[str], russian: bool) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + (" и " if russian else " and ") + parts[-1]
