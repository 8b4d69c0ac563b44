"""Workflows of the campaigns app that touch several models."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.module_loading import import_string

from campaigns.contacts.importing import enqueue_import, run_contact_import
from campaigns.contacts.mapping import ColumnMapping
from campaigns.models import Call, CallLog, CallTask, ContactImport, DoNotCallEntry, Outcome
from tenancy.models import AuditEntry

logger = logging.getLogger(__name__)


@transaction.atomic
def add_to_do_not_call(
    organization_id: int, phone: str, *, reason: str = "", source: str = DoNotCallEntry.Source.MANUAL, user=None
) -> tuple[DoNotCallEntry, int]:
    """Block ``phone`` for the organization and cancel its pending tasks in every campaign.

    Returns the entry and how many tasks were cancelled. A task already being called finishes its
    call; the engine never dials a blocked number again.
    """
    entry, created = DoNotCallEntry.objects.get_or_create(
        organization_id=organization_id,
        phone=phone,
        defaults={"reason": reason, "source": source, "created_by": user},
    )
    cancelled = CallTask.objects.filter(organization_id=organization_id, phone=phone).cancel_pending()
    if created:
        AuditEntry.objects.record(
            AuditEntry.Action.DNC_ADDED,
            entry,
            actor=user,
            after={"phone": phone, "reason": entry.reason, "source": entry.source, "cancelled_tasks": cancelled},
            reason=reason,
            # A callee's own request, heard by the agent: nobody on the staff did it.
            source=AuditEntry.Source.SYSTEM if source == DoNotCallEntry.Source.OPT_OUT else None,
        )
    return entry, cancelled


@transaction.atomic
def remove_from_do_not_call(entry: DoNotCallEntry, *, user=None) -> None:
    """Allow the number again; tasks cancelled when it was blocked stay cancelled."""
    before = {"phone": entry.phone, "reason": entry.reason, "source": entry.source}
    AuditEntry.objects.record(AuditEntry.Action.DNC_REMOVED, entry, actor=user, before=before)
    entry.delete()


def start_contact_import(
    campaign,
    upload,
    *,
    user=None,
    dry_run: bool = False,
    region: str = "",
    mapping: ColumnMapping | None = None,
    wait_for_mapping: bool = False,
) -> ContactImport:
    """Store the uploaded file and import it: at once when it is small, else in the background
    (a django-q2 task, enqueued when this transaction commits) with progress on the campaign.
    ``wait_for_mapping``: only store it, for the operator to pair its columns with the script
    (``map_contact_import`` then runs it)."""
    job = ContactImport.objects.create(
        organization_id=campaign.organization_id,
        campaign=campaign,
        file=upload,
        filename=upload.name[:255],
        size=upload.size,
        region=region,
        dry_run=dry_run,
        mapping=(mapping or ColumnMapping()).as_dict(),
        status=ContactImport.Status.MAPPING if wait_for_mapping else ContactImport.Status.QUEUED,
        language=translation.get_language() or "",
        created_by=user,
    )
    if not wait_for_mapping:
        _run_or_enqueue(job)
    return job


def map_contact_import(job: ContactImport, mapping: ColumnMapping) -> bool:
    """Run a stored upload with the columns the operator mapped; False when it was run already."""
    moved = ContactImport.objects.filter(pk=job.pk, status=ContactImport.Status.MAPPING).update(
        mapping=mapping.as_dict(), status=ContactImport.Status.QUEUED
    )
    if moved:
        job.refresh_from_db()
        _run_or_enqueue(job)
    return moved == 1


def confirm_contact_import(preview: ContactImport, *, user=None) -> ContactImport:
    """Import for real the file a dry run previewed; the good rows go in, the bad ones are skipped."""
    job = _same_file(preview, user=user, dry_run=False)
    _run_or_enqueue(job)
    return job


def remap_contact_import(preview: ContactImport, *, user=None) -> ContactImport:
    """The file a dry run read, back at the mapping step with the same choices, to map it again."""
    return _same_file(preview, user=user, dry_run=True, status=ContactImport.Status.MAPPING)


def _same_file(preview: ContactImport, *, user, **changes) -> ContactImport:
    return ContactImport.objects.create(
        organization_id=preview.organization_id,
        campaign_id=preview.campaign_id,
        file=preview.file.name,
        filename=preview.filename,
        size=preview.size,
        region=preview.region,
        mapping=preview.mapping,
        language=translation.get_language() or preview.language,
        created_by=user,
        **changes,
    )


def _run_or_enqueue(job: ContactImport) -> None:
    if not ContactImport.goes_to_background(job.size):
        run_contact_import(job.pk)
        job.refresh_from_db()
    else:
        enqueue_import(job)


@transaction.atomic
def finish_call(
    call_id: int,
    *,
    outcome: str,
    collected: dict | None = None,
    callback_at=None,
    last_step: str = "",
    error: str = "",
    sip_status_code: int | None = None,
    lease_expired_before=None,
    details: dict | None = None,
    **call_fields,
) -> Call:
    """End a call, whichever door ended it (its agent, the simulator, a dialer that failed, the
    reaper, a cancel), in one transaction: the call row, its single ``call_ended`` event (with
    ``details`` such as ring and talk seconds), its contact moved on, its measurement and cost, the
    campaign's safety rails. Idempotent: a call that has already ended keeps its first ending.
    ``lease_expired_before`` (the reaper) ends the call only if its lease really ran out, so a
    worker that renewed in the meantime keeps it."""
    # of=("self",): lock the call only. With select_related, Django would also lock the task and the
    # campaign FOR UPDATE, and a campaign locked here deadlocks with a dispatcher inserting its calls.
    call = Call.objects.select_for_update(of=("self",)).select_related("task", "campaign").get(pk=call_id)
    if call.status == Call.Status.ENDED:
        return call
    if lease_expired_before is not None and (call.lease_expires_at is None or call.lease_expires_at >= lease_expired_before):
        return call
    now = timezone.now()
    call.status, call.outcome, call.ended_at = Call.Status.ENDED, outcome, now
    call.collected, call.callback_at, call.last_step = collected or {}, callback_at, last_step[:64]
    call.error, call.sip_status_code, call.lease_expires_at = error[:2000], sip_status_code, None
    for name, value in call_fields.items():
        setattr(call, name, value)
    fields = ["status", "outcome", "ended_at", "collected", "callback_at", "last_step", "error", "sip_status_code", "lease_expires_at"]
    call.save(update_fields=[*fields, *call_fields])
    ended = {**(details or {}), "outcome": outcome}
    if sip_status_code is not None:
        ended["sip_status_code"] = sip_status_code
    CallLog.objects.append(call, CallLog.Kind.CALL_ENDED, role=CallLog.Role.SYSTEM, text=call.error, data=ended)
    task = CallTask.objects.select_for_update().get(pk=call.task_id)
    if collected:
        task.result = {**task.result, **collected}
    task.after_call(outcome, callback_at=callback_at, campaign=call.campaign, now=now)
    task.save(update_fields=["outcome", "result", "status", "next_attempt_at", "dial_index", "wrong_phones", "updated_at"])
    if outcome == Outcome.OPTED_OUT:
        add_to_do_not_call(
            call.organization_id, call.phone, reason="Asked on a call not to be called again", source=DoNotCallEntry.Source.OPT_OUT
        )
    campaign = call.campaign
    campaign.add_spend(_measure(call))  # and the safety rails, even when the call could not be measured
    campaign.complete_if_done()
    return call


def _measure(call: Call) -> Decimal:
    """The measurer's verdict on an ended call: what it adds to the campaign's spend. A measurer
    that fails rolls back only its own writes; the call ends all the same, says why it has no
    metrics, and the campaign's safety rails still apply."""
    measure = import_string(settings.NEWVOICE_CALL_MEASURER)
    try:
        with transaction.atomic():
            return measure(call)
    except Exception as exc:
        logger.exception("Could not measure call %s", call.pk)
        call.unmeasured_reason = f"{type(exc).__name__}: {exc}"[:500]
        call.save(update_fields=["unmeasured_reason"])
        return Decimal(0)
