"""Workflows of the campaigns app that touch several models."""

from __future__ import annotations

from django.db import transaction

from campaigns.models import CallTask, ContactImport, DoNotCallEntry


@transaction.atomic
def add_to_do_not_call(
    organization_id: int, phone: str, *, reason: str = "", source: str = DoNotCallEntry.Source.MANUAL, user=None
) -> tuple[DoNotCallEntry, int]:
    """Block ``phone`` for the organization and cancel its pending tasks in every campaign.

    Returns the entry and how many tasks were cancelled. A task already being called finishes its
    call; the engine never dials a blocked number again.
    """
    entry, _created = DoNotCallEntry.objects.get_or_create(
        organization_id=organization_id,
        phone=phone,
        defaults={"reason": reason, "source": source, "created_by": user},
    )
    cancelled = CallTask.objects.filter(organization_id=organization_id, phone=phone, status=CallTask.Status.PENDING).update(
        status=CallTask.Status.CANCELLED
    )
    return entry, cancelled


def start_contact_import(campaign, upload, *, user=None, dry_run: bool = False, region: str = "") -> ContactImport:
    """Store the uploaded file and import it in the background once this transaction commits."""
    from django_q.tasks import async_task

    job = ContactImport.objects.create(
        organization_id=campaign.organization_id,
        campaign=campaign,
        file=upload,
        filename=upload.name[:255],
        size=upload.size,
        region=region,
        dry_run=dry_run,
        created_by=user,
    )
    transaction.on_commit(lambda: async_task("campaigns.tasks.run_contact_import", job.pk, task_name=f"import-{job.pk}"))
    return job
