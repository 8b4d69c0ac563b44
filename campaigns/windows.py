"""When a contact may be called: the campaign's days and hours, in the contact's own time.

A number that may be in several zones (a US area code across a zone line) is called only when the
window is open in every one of them. A number that maps to most of a country's zones (a Russian
mobile range: 11 zones) says nothing about where its owner is; for those the campaign's default zone
is used, or such contacts could only ever be called for two hours a day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

MAX_ZONES_THAT_LOCATE = 3
SEARCH_DAYS = 15


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def contact_zones(zones: Iterable[str], default: str) -> tuple[ZoneInfo, ...]:
    names = [name for name in zones if name]
    if not names or len(names) > MAX_ZONES_THAT_LOCATE:
        names = [default]
    return tuple(_zone(name) for name in names)


@dataclass(frozen=True)
class CallingWindow:
    days: frozenset[int]  # ISO weekdays, Monday = 1
    start: dt.time
    end: dt.time
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None

    @classmethod
    def of(cls, campaign) -> CallingWindow:
        return cls(
            frozenset(campaign.calling_days),
            campaign.calling_window_start,
            campaign.calling_window_end,
            campaign.starts_at,
            campaign.ends_at,
        )

    def _open_in(self, moment: dt.datetime, zone: ZoneInfo) -> bool:
        local = moment.astimezone(zone)
        return local.isoweekday() in self.days and self.start <= local.time() < self.end

    def is_open(self, moment: dt.datetime, zones: tuple[ZoneInfo, ...]) -> bool:
        if self.starts_at and moment < self.starts_at or self.ends_at and moment >= self.ends_at:
            return False
        return all(self._open_in(moment, zone) for zone in zones)

    def next_open(self, moment: dt.datetime, zones: tuple[ZoneInfo, ...]) -> dt.datetime | None:
        """The first moment from ``moment`` on when the window is open in every zone; None if that
        never happens before the campaign ends (or within two weeks: the zones never overlap)."""
        if self.starts_at and moment < self.starts_at:
            moment = self.starts_at
        if self.is_open(moment, zones):
            return moment
        # Where the open times of several zones overlap, the overlap begins when one of them opens,
        # so the candidates are each zone's window openings (computed in local time: DST-correct).
        candidates = sorted(
            opening
            for zone in zones
            for opening in self._openings(moment, zone)
            if opening > moment and (self.starts_at is None or opening >= self.starts_at)
        )
        for candidate in candidates:
            if self.ends_at and candidate >= self.ends_at:
                return None
            if self.is_open(candidate, zones):
                return candidate
        return None

    def _openings(self, moment: dt.datetime, zone: ZoneInfo) -> Iterable[dt.datetime]:
        first = moment.astimezone(zone).date()
        for offset in range(SEARCH_DAYS):
            day = first + dt.timedelta(days=offset)
            if day.isoweekday() in self.days:
                opening = dt.datetime.combine(day, self.start, tzinfo=zone)
                # A start inside a spring-forward gap does not exist locally; normalise it to a real instant.
                yield opening.astimezone(dt.UTC).astimezone(zone)
