"""The dispatcher: which contacts to call now. ``manage.py dispatcher`` runs ``tick()`` in a loop;
several dialers may run at once, on several machines.

Per running campaign, in one transaction: lock the organization's row (concurrency caps span all
of its campaigns, and two dispatchers must not both fill the last slot), refill the campaign's
token bucket, claim due contacts with ``SELECT … FOR UPDATE SKIP LOCKED``, move contacts whose
calling window is closed to its next opening, create the calls, and enqueue ``place_call`` once the
transaction commits.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.actions import finish_call
from campaigns.contacts.importing import reap_imports
from campaigns.dialers import get_dialer
from campaigns.models import Call, CallTask, Campaign, DoNotCallEntry, Outcome
from campaigns.recordings import expire_recordings
from campaigns.windows import CallingWindow, contact_zones
from tenancy.models import Organization

logger = logging.getLogger(__name__)
BURST_SECONDS = 5
MAX_CLAIMS_PER_PASS = (
    500  # keeps each pass's transaction, and the locks it holds, short  # the bucket holds at most this many seconds' worth of calls
)
QUEUED_CALL_TIMEOUT = dt.timedelta(minutes=10)  # a queued call nobody picked up is reaped after this


@dataclass
class TickReport:
    placed: dict[int, int] = field(default_factory=dict)  # campaign id → calls created
    rescheduled: int = 0
    reaped: int = 0
    stalled_imports: int = 0
    expired_recordings: int = 0

    @property
    def total(self) -> int:
        return sum(self.placed.values())


def tick(now: dt.datetime | None = None, *, enqueue=None) -> TickReport:
    """One pass of the dispatcher. ``enqueue(call_id)`` places a call (default: a django-q2 task)."""
    now = now or timezone.now()
    # Leases are real time, whatever clock the dispatch runs on (``campaign run`` may run ahead).
    report = TickReport(
        reaped=reap(timezone.now()), stalled_imports=reap_imports(timezone.now()), expired_recordings=expire_recordings(timezone.now())
    )
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.RUNNING).order_by("id").values_list("id", flat=True):
        try:
            placed, rescheduled = dispatch_campaign(campaign_id, now, enqueue=enqueue)
        except Exception:  # one broken campaign must not stop the others
            logger.exception("Dispatching campaign %s failed", campaign_id)
            continue
        report.rescheduled += rescheduled
        if placed:
            report.placed[campaign_id] = placed
    return report


def _enqueue_place_call(call_id: int) -> None:
    from django_q.tasks import async_task

    async_task("campaigns.tasks.place_call", call_id, task_name=f"call-{call_id}")


def _locked(queryset):
    # PostgreSQL: skip rows another dispatcher holds. SQLite has no row locks; its IMMEDIATE
    # transactions already let one writer at a time through.
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, no_key=_no_key())
    return queryset


def _no_key() -> bool:
    # FOR NO KEY UPDATE: two dispatchers still exclude each other, but rows that merely reference the
    # locked one (a call log, a do-not-call entry: FOR KEY SHARE) go in meanwhile. A plain FOR UPDATE
    # blocks them, and deadlocks with a transaction that took such a key lock before this pass.
    return connection.features.has_select_for_no_key_update


def dispatch_campaign(campaign_id: int, now: dt.datetime, *, enqueue=None) -> tuple[int, int]:
    """Create the calls campaign ``campaign_id`` may make now; returns (calls created, contacts rescheduled)."""
    enqueue = enqueue or _enqueue_place_call
    with transaction.atomic():
        organization_id = Campaign.objects.values_list("organization_id", flat=True).get(pk=campaign_id)
        organization = _locked(Organization.objects.filter(pk=organization_id)).first()
        if organization is None:
            return 0, 0  # another dispatcher is on this organization right now
        # The campaign's row lock: its token bucket is read and written under it, and a pause or a
        # cancel (a conditional UPDATE of this row) waits for this pass, so no claim follows either.
        campaign = _campaign_for_update(campaign_id)
        if campaign.status != Campaign.Status.RUNNING:
            return 0, 0
        if campaign.ends_at and now >= campaign.ends_at:
            _end_by_date(campaign)
            return 0, 0
        if campaign.budget_spent:  # the cost may have been added after the last call ended
            campaign.apply_safety_rails()
            return 0, 0
        slots = _free_slots(campaign, organization, now)
        calls, rescheduled = _claim(campaign, now, slots) if slots > 0 else ([], 0)
        campaign.rate_tokens -= len(calls)
        campaign.save(update_fields=["rate_tokens", "rate_updated_at"])
        if not calls:
            # Contacts cancelled at claim (do-not-call) or out of windows for good end a campaign too.
            campaign.complete_if_done()
        ids = [call.pk for call in calls]
        transaction.on_commit(lambda: [enqueue(call_id) for call_id in ids])
    return len(calls), rescheduled


def _campaign_for_update(campaign_id: int) -> Campaign:
    campaigns = Campaign.objects.select_related("skillbase")
    if connection.features.has_select_for_update_of:
        campaigns = campaigns.select_for_update(of=("self",), no_key=_no_key())  # not the skillbase's row
    return campaigns.get(pk=campaign_id)


def _free_slots(campaign: Campaign, organization: Organization, now: dt.datetime) -> int:
    per_second = campaign.calls_per_minute / 60
    capacity = max(1.0, per_second * BURST_SECONDS)
    elapsed = (now - campaign.rate_updated_at).total_seconds() if campaign.rate_updated_at else 0.0
    campaign.rate_tokens = min(capacity, campaign.rate_tokens + max(elapsed, 0.0) * per_second)
    campaign.rate_updated_at = now
    live_in_campaign = Call.objects.live().filter(campaign=campaign).count()
    live_in_organization = Call.objects.live().filter(organization=organization).count()
    return min(
        # Tenths of a call per second add up to 0.999…; a whole token is a whole token.
        int(campaign.rate_tokens + 1e-9),
        campaign.max_concurrent_calls - live_in_campaign,
        organization.max_concurrent_calls - live_in_organization,
    )


def _claim(campaign: Campaign, now: dt.datetime, slots: int) -> tuple[list[Call], int]:
    window = CallingWindow.of(campaign)
    version = campaign.skillbase.current_version
    dialer = campaign.dialer or settings.NEWVOICE_DIALER
    simulated = get_dialer(dialer).simulated
    due = _locked(CallTask.objects.due(now).filter(campaign=campaign).order_by("next_attempt_at", "id"))
    # Contacts outside their window are moved and do not use a slot, so look a little further.
    slots = min(slots, MAX_CLAIMS_PER_PASS)
    candidates = list(due[: slots * 4 + 10])
    blocked = set(
        DoNotCallEntry.objects.filter(
            organization_id=campaign.organization_id, phone__in=[number for task in candidates for number in task.numbers]
        ).values_list("phone", flat=True)
    )
    claimed, rescheduled = [], 0
    for task in candidates:
        if len(claimed) >= slots:
            break
        if blocked.intersection(task.numbers):  # added to the list after the import (any of the contact's numbers)
            task.status = CallTask.Status.CANCELLED
            task.save(update_fields=["status", "updated_at"])
            continue
        zones = contact_zones(task.timezones, campaign.default_timezone)
        if not window.is_open(now, zones):
            _reschedule(task, window.next_open(now, zones))
            rescheduled += 1
            continue
        claimed.append(task)
    if not claimed:
        return [], rescheduled
    # One UPDATE and one multi-row INSERT for the whole pass, not two statements per contact.
    CallTask.objects.filter(pk__in=[t.pk for t in claimed]).update(
        status=CallTask.Status.IN_PROGRESS, attempts=F("attempts") + 1, last_attempt_at=now, updated_at=timezone.now()
    )
    lease = timezone.now() + QUEUED_CALL_TIMEOUT  # leases are real time, like the reaper's clock
    calls = Call.objects.bulk_create(
        Call(
            organization_id=campaign.organization_id,
            campaign=campaign,
            task=task,
            attempt=task.attempts + 1,
            skillbase_version=version,
            phone=task.number_to_dial,
            dialer=dialer,
            is_simulated=simulated,
            lease_expires_at=lease,
        )  # fmt: skip
        for task in claimed
    )
    return calls, rescheduled


def _reschedule(task: CallTask, opening: dt.datetime | None) -> None:
    if opening is None:  # the window never opens again before the campaign ends
        task.status, task.outcome = CallTask.Status.FAILED, ""
        task.save(update_fields=["status", "outcome", "updated_at"])
        return
    task.next_attempt_at = opening
    task.save(update_fields=["next_attempt_at", "updated_at"])


def _end_by_date(campaign: Campaign) -> None:
    campaign.tasks.cancel_pending()
    campaign.complete("The campaign's end date passed.")


def reap(now: dt.datetime) -> int:
    """End live calls whose lease ran out (their worker died) as lost; their contacts go on by the
    retry policy. A call is never dialled again: place_call only dials queued calls. Whatever is
    still connected (a LiveKit room whose agent died) is hung up."""
    expired = list(Call.objects.live().filter(lease_expires_at__lt=now).values_list("id", flat=True)[:500])
    for call_id in expired:
        try:
            call = finish_call(
                call_id, outcome=Outcome.LOST, error="The worker holding this call stopped answering.", lease_expired_before=now
            )
        except Exception:  # one broken call (or campaign) must not stop the reaper, nor the dispatch after it
            logger.exception("The reaper could not end lost call %s", call_id)
            continue
        if call.outcome == Outcome.LOST:
            try:
                get_dialer(call.dialer).hang_up(call)
            except Exception:  # a dialer that cannot hang up must not stop the reaper
                logger.exception("Could not hang up lost call %s", call_id)
    return len(expired)
