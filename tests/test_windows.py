"""Calling windows in each contact's own time: days, hours, the campaign's dates, several zones, DST.

Pure ``CallingWindow`` arithmetic; no database.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import Campaign
from campaigns.windows import MAX_ZONES_THAT_LOCATE, CallingWindow, contact_zones

UTC = dt.UTC
WEEKDAYS = frozenset(range(1, 6))
EVERY_DAY = frozenset(range(1, 8))


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def local(zone: str, *parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=ZoneInfo(zone))


def zones(*names: str, default: str = "Europe/Moscow") -> tuple[ZoneInfo, ...]:
    return contact_zones(names, default)


def window(days=WEEKDAYS, start=dt.time(9), end=dt.time(20), **dates) -> CallingWindow:
    return CallingWindow(frozenset(days), start, end, **dates)


MOSCOW = zones("Europe/Moscow")


# One zone: hours and days


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (local("Europe/Moscow", 2025, 6, 2, 8, 59), False),
        (local("Europe/Moscow", 2025, 6, 2, 9, 0), True),
        (local("Europe/Moscow", 2025, 6, 2, 19, 59, 59), True),
        (local("Europe/Moscow", 2025, 6, 2, 20, 0), False),  # the end is not included
        (local("Europe/Moscow", 2025, 6, 7, 12, 0), False),  # a Saturday
    ],
)
def test_open_between_start_and_end_on_the_calling_days(moment, is_open):
    assert window().is_open(moment, MOSCOW) is is_open


def test_the_day_is_the_contacts_day_not_utcs():
    # Sunday 23:30 UTC is already Monday 09:30 in Vladivostok.
    sunday_night = utc(2025, 6, 1, 23, 30)
    assert sunday_night.isoweekday() == 7
    assert window().is_open(sunday_night, zones("Asia/Vladivostok"))
    assert not window().is_open(sunday_night, MOSCOW)


def test_next_open_is_the_moment_itself_when_open():
    moment = local("Europe/Moscow", 2025, 6, 2, 12, 0)
    assert window().next_open(moment, MOSCOW) == moment


def test_next_open_after_hours_is_tomorrow_morning():
    evening = local("Europe/Moscow", 2025, 6, 2, 20, 30)
    assert window().next_open(evening, MOSCOW) == local("Europe/Moscow", 2025, 6, 3, 9, 0)


def test_next_open_skips_the_days_off():
    friday_evening = local("Europe/Moscow", 2025, 6, 6, 21, 0)
    assert window().next_open(friday_evening, MOSCOW) == local("Europe/Moscow", 2025, 6, 9, 9, 0)
    assert window(days={7}).next_open(friday_evening, MOSCOW) == local("Europe/Moscow", 2025, 6, 8, 9, 0)


# The campaign's dates


def test_nothing_before_the_campaign_starts():
    starts = local("Europe/Moscow", 2025, 6, 4, 12, 30)
    dated = window(starts_at=starts)
    assert not dated.is_open(local("Europe/Moscow", 2025, 6, 3, 12, 0), MOSCOW)
    # Open at the start itself: the start; starting at night: the next morning.
    assert dated.next_open(local("Europe/Moscow", 2025, 6, 2, 10, 0), MOSCOW) == starts
    night_start = window(starts_at=local("Europe/Moscow", 2025, 6, 4, 23, 0))
    assert night_start.next_open(local("Europe/Moscow", 2025, 6, 2, 10, 0), MOSCOW) == local("Europe/Moscow", 2025, 6, 5, 9, 0)


def test_the_end_date_cuts_the_window_off():
    ends = local("Europe/Moscow", 2025, 6, 3, 12, 0)
    dated = window(ends_at=ends)
    assert dated.is_open(ends - dt.timedelta(seconds=1), MOSCOW)
    assert not dated.is_open(ends, MOSCOW)
    # Closed now and the next opening is after the end (or at it): never again.
    assert dated.next_open(local("Europe/Moscow", 2025, 6, 3, 8, 0), MOSCOW) == local("Europe/Moscow", 2025, 6, 3, 9, 0)
    assert window(ends_at=local("Europe/Moscow", 2025, 6, 4, 9, 0)).next_open(local("Europe/Moscow", 2025, 6, 3, 21, 0), MOSCOW) is None
    assert dated.next_open(local("Europe/Moscow", 2025, 6, 3, 20, 0), MOSCOW) is None


def test_of_reads_the_campaigns_fields():
    campaign = Campaign(
        calling_days=[6, 7],
        calling_window_start=dt.time(10),
        calling_window_end=dt.time(14),
        starts_at=utc(2025, 6, 1),
        ends_at=utc(2025, 7, 1),
    )
    assert CallingWindow.of(campaign) == window({6, 7}, dt.time(10), dt.time(14), starts_at=utc(2025, 6, 1), ends_at=utc(2025, 7, 1))


# Several zones: open only where every zone is open


def test_a_number_in_moscow_and_vladivostok_is_called_when_both_are_awake():
    both = zones("Europe/Moscow", "Asia/Vladivostok")  # UTC+3 and UTC+10
    # 09:00-20:00 in both: 06:00-10:00 UTC, i.e. 09:00-13:00 in Moscow, 16:00-20:00 in Vladivostok.
    assert window().next_open(utc(2025, 6, 2, 0, 0), both) == utc(2025, 6, 2, 6, 0)
    assert window().is_open(utc(2025, 6, 2, 9, 59), both)
    assert not window().is_open(utc(2025, 6, 2, 10, 0), both)
    assert window().next_open(utc(2025, 6, 2, 10, 0), both) == utc(2025, 6, 3, 6, 0)
    # Friday after the overlap: Saturday is open in neither, so Monday.
    assert window().next_open(utc(2025, 6, 6, 10, 0), both) == utc(2025, 6, 9, 6, 0)


def test_zones_that_never_overlap_give_no_opening():
    both = zones("Europe/Moscow", "Asia/Vladivostok")
    # 09:00-12:00 is 06:00-09:00 UTC in Moscow and 23:00-02:00 UTC in Vladivostok.
    morning = window(EVERY_DAY, dt.time(9), dt.time(12))
    assert morning.next_open(utc(2025, 6, 2, 0, 0), both) is None


@pytest.mark.parametrize(
    ("pair", "summer_opening", "winter_opening"),
    [
        # Denver keeps DST, Phoenix does not: in summer Phoenix's 09:00 (an hour after Denver's) opens it.
        (("America/Denver", "America/Phoenix"), utc(2025, 7, 1, 16, 0), utc(2025, 1, 7, 16, 0)),
        # Anchorage and Adak both keep DST, an hour apart: Adak's 09:00 opens it all year.
        (("America/Anchorage", "America/Adak"), utc(2025, 7, 1, 18, 0), utc(2025, 1, 7, 19, 0)),
    ],
)
def test_a_us_number_across_a_zone_line(pair, summer_opening, winter_opening):
    both = zones(*pair)
    assert window().next_open(summer_opening.replace(hour=12), both) == summer_opening
    assert window().next_open(winter_opening.replace(hour=12), both) == winter_opening
    # It closes when the earlier zone reaches 20:00.
    earlier = ZoneInfo(pair[0])
    closing = dt.datetime.combine(summer_opening.astimezone(earlier).date(), dt.time(20), tzinfo=earlier)
    assert window().is_open(closing - dt.timedelta(minutes=1), both)
    assert not window().is_open(closing, both)


def test_three_zones_locate_a_number_and_more_do_not():
    """A number that maps to more than three zones (a Russian mobile range spans eleven) says nothing
    about where its owner is: by design it is treated as an unknown location and the campaign's
    default zone is used, or such contacts could be called only when every zone of the country is
    awake at once."""
    three = ("Europe/Kaliningrad", "Europe/Moscow", "Asia/Yekaterinburg")
    assert MAX_ZONES_THAT_LOCATE == 3
    assert contact_zones(three, "Asia/Vladivostok") == tuple(ZoneInfo(name) for name in three)
    four = (*three, "Asia/Vladivostok")
    assert contact_zones(four, "Europe/Samara") == (ZoneInfo("Europe/Samara"),)
    assert contact_zones([], "Europe/Samara") == contact_zones(["", ""], "Europe/Samara") == (ZoneInfo("Europe/Samara"),)
    # With the default zone a four-zone number is open during Samara's whole day (UTC+4) ...
    whole_country = contact_zones(four, "Europe/Samara")
    assert window().next_open(utc(2025, 6, 2, 0, 0), whole_country) == utc(2025, 6, 2, 5, 0)
    # ... where intersecting the four zones would leave three hours a day (07:00-10:00 UTC).
    every_zone = tuple(ZoneInfo(name) for name in four)
    assert window().next_open(utc(2025, 6, 2, 0, 0), every_zone) == utc(2025, 6, 2, 7, 0)
    assert not window().is_open(utc(2025, 6, 2, 11, 0), every_zone)
    assert window().is_open(utc(2025, 6, 2, 11, 0), whole_country)


# Daylight saving time: the window is in local wall-clock time, whatever the offset that day


@pytest.mark.parametrize(
    ("zone", "changeover", "before", "on_the_day"),
    [
        # New York springs forward on 9 March 2025 (EST -5 → EDT -4) and falls back on 2 November.
        ("America/New_York", dt.date(2025, 3, 9), utc(2025, 3, 8, 14, 0), utc(2025, 3, 9, 13, 0)),
        ("America/New_York", dt.date(2025, 11, 2), utc(2025, 11, 1, 13, 0), utc(2025, 11, 2, 14, 0)),
        # Berlin on 30 March (CET +1 → CEST +2) and 26 October.
        ("Europe/Berlin", dt.date(2025, 3, 30), utc(2025, 3, 29, 8, 0), utc(2025, 3, 30, 7, 0)),
        ("Europe/Berlin", dt.date(2025, 10, 26), utc(2025, 10, 25, 7, 0), utc(2025, 10, 26, 8, 0)),
    ],
)
def test_a_nine_oclock_window_opens_at_nine_local_on_the_changeover_day(zone, changeover, before, on_the_day):
    here = zones(zone)
    day_before_midnight = dt.datetime.combine(changeover - dt.timedelta(days=1), dt.time(0), tzinfo=ZoneInfo(zone))
    midnight = dt.datetime.combine(changeover, dt.time(0), tzinfo=ZoneInfo(zone))
    every_day = window(EVERY_DAY)
    assert every_day.next_open(day_before_midnight, here) == before
    # Searching from before the change (the previous evening, still on the old offset) finds the new offset.
    assert every_day.next_open(midnight - dt.timedelta(hours=3), here) == on_the_day
    assert every_day.next_open(midnight, here) == on_the_day
    assert not every_day.is_open(on_the_day - dt.timedelta(seconds=1), here)
    assert on_the_day.astimezone(ZoneInfo(zone)).time() == dt.time(9)


def test_a_window_starting_inside_the_spring_forward_gap_opens_after_it():
    """02:30 does not exist in New York on 9 March 2025 (02:00 EST jumps to 03:00 EDT). The opening
    is normalised to a real instant, 03:30 EDT; never earlier than the wall clock allows. (The wall
    clock passes 02:30 at 03:00 EDT already, so this is up to the gap's length late, on the safe side.)"""
    here = zones("America/New_York")
    early = window(EVERY_DAY, dt.time(2, 30), dt.time(20))
    opening = early.next_open(local("America/New_York", 2025, 3, 9, 0, 0), here)
    assert opening == utc(2025, 3, 9, 7, 30)
    assert opening.astimezone(ZoneInfo("America/New_York")).time() == dt.time(3, 30)
    assert early.is_open(opening, here)


def test_the_agent_reads_a_contacts_times_in_the_zone_the_window_uses():
    from voiceagent.calls import contact_timezone

    assert contact_timezone(["America/Anchorage", "America/Adak"], "Europe/Moscow") == "America/Anchorage"
    assert contact_timezone([], "Europe/Moscow") == "Europe/Moscow"
    russia = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk", "Asia/Novosibirsk"]
    assert contact_timezone(russia, "Europe/Moscow") == "Europe/Moscow"


def test_a_kazakh_number_is_called_in_kazakh_time_not_in_the_campaigns_moscow_time():
    """+7 is shared by Russia and Kazakhstan: a Kazakh number must not get every Russian zone too
    (and with it the campaign's default, Moscow), or it is called at 21:45 Almaty time."""
    from campaigns.contacts.normalising import normalise_phone
    from campaigns.windows import CallingWindow, contact_zones

    _e164, _ext, zones = normalise_phone("+7 701 234 5678", "RU")
    assert set(zones) <= {"Asia/Almaty", "Asia/Aqtobe", "Asia/Qostanay", "Asia/Oral", "Asia/Atyrau", "Asia/Aqtau", "Asia/Qyzylorda"}
    window = CallingWindow(days=frozenset(range(1, 8)), start=dt.time(9), end=dt.time(20))
    evening_in_almaty = dt.datetime(2026, 11, 24, 16, 45, tzinfo=dt.UTC)  # 21:45 in Almaty, 19:45 in Moscow
    assert not window.is_open(evening_in_almaty, contact_zones(zones, "Europe/Moscow"))
    assert window.is_open(evening_in_almaty, contact_zones(["Europe/Moscow"], "Europe/Moscow"))
