"""Calls that have ended, written the way the agent writes them: events in the call's log, then
``finish_call`` (which measures and prices the call through the real signal)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from analytics.call_metrics import record_call_metrics
from campaigns.actions import finish_call
from campaigns.models import Call, CallLog, CallTask, Campaign

_numbers = iter(range(10_000_000))


def conversation(*lines: tuple[str, str], latency_ms: float = 800.0, steps: tuple[str, ...] = ()) -> list[tuple]:
    """Log events for a conversation: ("assistant"|"user", text) lines; the first bot line is the
    greeting; every step named is entered before the first line."""
    events: list[tuple] = [("step", "", "", {"step": step}) for step in steps]
    greeted = False
    for role, text in lines:
        data: dict[str, Any] = {"interrupted": False}
        if role == "assistant":
            data["latency_ms"] = latency_ms
            if not greeted:
                data["greeting"] = greeted = True
        events.append(("transcript", role, text, data))
    return events


def ended_call(
    campaign: Campaign,
    *,
    outcome: str = "success",
    events: list[tuple] = (),
    talk_seconds: float | None = 60.0,
    ring_seconds: float = 5.0,
    usage: list[dict] | None = None,
    dialer: str = "livekit",
    simulated: bool = False,
    last_step: str = "",
    ended_at: dt.datetime | None = None,
) -> Call:
    number = next(_numbers)
    task = CallTask.objects.create(
        organization_id=campaign.organization_id, campaign=campaign, phone=f"+7926{number:07d}", name=f"Contact {number}",
        status=CallTask.Status.IN_PROGRESS, attempts=1,
    )  # fmt: skip
    call = Call.objects.create(
        organization_id=campaign.organization_id, campaign=campaign, task=task, attempt=1,
        skillbase_version=campaign.skillbase.current_version, phone=task.phone, dialer=dialer, is_simulated=simulated,
        status=Call.Status.IN_PROGRESS, answered_at=timezone.now() if talk_seconds else None,
    )  # fmt: skip
    log = [("answered", "", "", {"ring_seconds": ring_seconds})] if talk_seconds else []
    log += list(events)
    if usage:
        log.append(("metrics", "", "", {"usage": usage}))
    details = {"ring_seconds": ring_seconds}
    if talk_seconds is not None:
        details["talk_seconds"] = talk_seconds
    if log:
        CallLog.objects.append_many(call, log)
    finish_call(call.pk, outcome=outcome, last_step=last_step, details=details)  # writes the call_ended event
    call.refresh_from_db()
    if ended_at is not None:  # as if it had ended then: measured again, which moves its daily figures too
        Call.objects.filter(pk=call.pk).update(ended_at=ended_at)
        call.refresh_from_db()
        record_call_metrics(call)
    return call
