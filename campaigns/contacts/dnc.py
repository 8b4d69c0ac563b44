"""Importing a do-not-call list: the contact file reader and phone rules, into DoNotCallEntry."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import IO, Any

from django.conf import settings
from django.db import transaction

from campaigns.contacts.normalising import RowError, cell_text, contact_numbers, has_phone_column, map_columns, refuse_unreadable_cells
from campaigns.contacts.reading import ImportFileError, open_contact_file
from campaigns.models import CallTask, DoNotCallEntry
from tenancy.models import AuditEntry

BATCH_SIZE = 2000
REASON_COLUMNS = ("reason", "причина", "comment", "комментарий", "note")


@dataclass
class DoNotCallReport:
    total: int = 0
    added: int = 0
    already_listed: int = 0
    invalid: int = 0
    cancelled_tasks: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    file_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_do_not_call(organization_id: int, stream: IO[bytes], filename: str = "", *, region: str, user=None) -> DoNotCallReport:
    """Add every valid number of the file to the organization's list, in one transaction."""
    report = DoNotCallReport()
    try:
        with transaction.atomic():
            contact_file = open_contact_file(stream, filename, max_bytes=settings.NEWVOICE_IMPORT_MAX_BYTES, is_header=has_phone_column)
            columns = map_columns(contact_file.header)
            reason_at = next((i for i, key in columns.variables if key in REASON_COLUMNS), None)
            batch: dict[str, str] = {}
            for number, cells in contact_file.rows:
                report.total += 1
                try:
                    refuse_unreadable_cells(cells, columns.headers)
                    # Every number of the row is blocked, from every phone column.
                    numbers, _problems = contact_numbers(cells, columns, region)
                except RowError as exc:
                    report.invalid += 1
                    report.errors.append({"row": number, "column": exc.column, "value": str(exc.value or ""), "reason": exc.reason})
                    continue
                reason = cell_text(cells[reason_at]) if reason_at is not None and reason_at < len(cells) else ""
                for found in numbers:
                    batch.setdefault(found.e164, reason[:500])
                if len(batch) >= BATCH_SIZE:
                    _flush(organization_id, batch, report, user)
            _flush(organization_id, batch, report, user)
            if report.added:
                AuditEntry.objects.record(
                    AuditEntry.Action.DNC_IMPORTED,
                    organization_id=organization_id,
                    object_type=DoNotCallEntry._meta.label_lower,
                    object_repr=filename,
                    actor=user,
                    after={"added": report.added, "already_listed": report.already_listed, "cancelled_tasks": report.cancelled_tasks},
                )
    except ImportFileError as exc:
        return DoNotCallReport(file_error=str(exc))
    return report


def _flush(organization_id: int, batch: dict[str, str], report: DoNotCallReport, user) -> None:
    if not batch:
        return
    listed = set(DoNotCallEntry.objects.filter(organization_id=organization_id, phone__in=batch).values_list("phone", flat=True))
    fresh = [phone for phone in batch if phone not in listed]
    DoNotCallEntry.objects.bulk_create(
        [
            DoNotCallEntry(organization_id=organization_id, phone=p, reason=batch[p], source=DoNotCallEntry.Source.IMPORT, created_by=user)
            for p in fresh
        ],
        ignore_conflicts=True,
    )
    report.added += len(fresh)
    report.already_listed += len(batch) - len(fresh)
    report.cancelled_tasks += CallTask.objects.filter(organization_id=organization_id, phone__in=fresh).cancel_pending()
    batch.clear()
