"""The one contact import behind the admin, the API and ``manage.py import_contacts``.

Rows stream through in batches, so memory stays flat however long the file is: each batch is
normalised, checked against the campaign's tasks (which, inside the import's transaction, include
the file's earlier batches) and the organization's do-not-call list, and written with one bulk
insert.

Run in the foreground (``atomic=True``: the command, small uploads) the whole import is one
transaction: a file that turns out to be unreadable half-way leaves nothing behind, and a dry run is
the same import rolled back, so it reports exactly what a real one would do. Run in the background
(``atomic=False``) progress must be visible while it runs, so the file is first read through once to
find file-level problems (nothing written yet), then each batch commits on its own; a retried
import skips what an earlier attempt wrote, as duplicates.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from django.conf import settings
from django.db import connection, reset_queries, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.contacts.normalising import (
    Columns,
    RowError,
    cell_text,
    map_columns,
    normalise_phone,
    normalise_timezone,
    refuse_unreadable_cells,
)
from campaigns.contacts.reading import ImportFileError, open_contact_file
from campaigns.models import CallTask, Campaign, ContactImport, DoNotCallEntry

BATCH_SIZE = 2000
logger = logging.getLogger(__name__)
_COPY_FIELDS = (
    "organization", "campaign", "phone", "name", "variables", "timezones", "status", "outcome", "attempts",
    "next_attempt_at", "result", "created_at", "updated_at",
)  # fmt: skip
MAX_REPORTED_ERRORS = 10_000


@dataclass
class ImportReport:
    total: int = 0
    imported: int = 0
    duplicates: int = 0
    dnc: int = 0
    invalid: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_not_shown: int = 0
    dry_run: bool = False
    file_error: str = ""

    def add_error(self, row: int, column: str, value: Any, reason: str) -> None:
        self.invalid += 1
        self.skipped(row, column, value, reason)

    def skipped(self, row: int, column: str, value: Any, reason: str) -> None:
        """List a row that is not imported (invalid, a duplicate, on the do-not-call list) with why."""
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"row": row, "column": column, "value": "" if value is None else str(value), "reason": reason})
        else:
            self.errors_not_shown += 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Candidate:
    row: int
    phone: str
    name: str
    timezones: list[str]
    variables: dict[str, str]


class _Batch:
    """The file's rows, a batch at a time. The first row of a number decides it (imported, already in
    the campaign, on the do-not-call list); a later row with the same number is a duplicate of it,
    whichever batch either falls in, in a dry run as in the real import."""

    def __init__(self, campaign: Campaign, report: ImportReport, *, write: bool, column: str):
        self.campaign, self.report, self.write, self.column = campaign, report, write, column
        self.pending: dict[str, _Candidate] = {}
        # Numbers of earlier batches the table will not show: all of them without writes, the
        # do-not-call ones (never written) with them.
        self.seen: dict[str, int] = {}
        self.now = timezone.now()

    def add(self, candidate: _Candidate) -> None:
        first = self.pending.get(candidate.phone)
        earlier = first.row if first is not None else self.seen.get(candidate.phone)
        if earlier is not None:
            self.report.duplicates += 1
            self.report.skipped(candidate.row, self.column, candidate.phone, _("The number is on row %(row)d already.") % {"row": earlier})
            return
        self.pending[candidate.phone] = candidate
        if len(self.pending) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        # The check for numbers already there and the insert are one transaction, under a lock that
        # only other imports of this campaign take: parallel imports of one file then count exactly
        # (each number imported once, the others duplicates) and never collide on the insert.
        with transaction.atomic():
            if self.write:
                _lock_imports_of(self.campaign)
            self._flush()
        # With DEBUG on, Django keeps every query's SQL (a bulk insert's is megabytes): an import
        # must not hold on to its own.
        reset_queries()

    def _flush(self) -> None:
        phones = list(self.pending)
        existing = set(CallTask.objects.filter(campaign=self.campaign, phone__in=phones).values_list("phone", flat=True))
        blocked = set(
            DoNotCallEntry.objects.filter(organization_id=self.campaign.organization_id, phone__in=phones).values_list("phone", flat=True)
        )
        fresh = []
        for candidate in self.pending.values():
            if candidate.phone in blocked:
                self.report.dnc += 1
                self.report.skipped(candidate.row, self.column, candidate.phone, _("The number is on the do-not-call list."))
                self.seen[candidate.phone] = candidate.row
            elif candidate.phone in existing:
                self.report.duplicates += 1
                self.report.skipped(candidate.row, self.column, candidate.phone, _("The number is in this campaign already."))
            else:
                fresh.append(candidate)
        if self.write:
            self._insert(fresh)
        else:
            self.seen.update((candidate.phone, candidate.row) for candidate in fresh)
        self.report.imported += len(fresh)
        self.pending = {}

    def _insert(self, fresh: list[_Candidate]) -> None:
        if connection.vendor == "postgresql":
            self._copy(fresh)
        else:
            CallTask.objects.bulk_create([self._task(c) for c in fresh], batch_size=BATCH_SIZE)

    def _copy(self, fresh: list[_Candidate]) -> None:
        """COPY is several times faster than a multi-row INSERT built by the ORM."""
        fields = [CallTask._meta.get_field(name) for name in _COPY_FIELDS]
        sql = f"COPY {CallTask._meta.db_table} ({', '.join(f.column for f in fields)}) FROM STDIN"
        org, campaign, now = self.campaign.organization_id, self.campaign.pk, self.now
        pending = CallTask.Status.PENDING
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            for c in fresh:
                variables, zones = json.dumps(c.variables), json.dumps(c.timezones)
                copy.write_row((org, campaign, c.phone, c.name, variables, zones, pending, "", 0, now, "{}", now, now))

    def _task(self, c: _Candidate) -> CallTask:
        return CallTask(
            organization_id=self.campaign.organization_id,
            campaign=self.campaign,
            phone=c.phone,
            name=c.name,
            timezones=c.timezones,
            variables=c.variables,
            next_attempt_at=self.now,
        )


def _candidate(number: int, cells: list[Any], columns: Columns, region: str) -> _Candidate:
    def cell(index: int | None) -> Any:
        return cells[index] if index is not None and index < len(cells) else None

    refuse_unreadable_cells(cells, columns.headers)
    phone, extension, zones = normalise_phone(cell(columns.phone), region, columns.headers[columns.phone])
    if columns.timezone is not None and cell_text(cell(columns.timezone)):
        zones = normalise_timezone(cell(columns.timezone), columns.headers[columns.timezone])
    variables = {key: text for index, key in columns.variables if (text := cell_text(cell(index)))}
    if extension:
        variables["extension"] = extension
    name = cell_text(cell(columns.name))[:200]
    return _Candidate(number, phone, name, list(zones), variables)


# pg_advisory_xact_lock's first key: this lock's kind; the second is the campaign's id.
IMPORT_LOCK_KIND = 7301


def _lock_imports_of(campaign: Campaign) -> None:
    """Wait for any other import of ``campaign`` to commit its batch (held until this transaction
    ends). SQLite needs none: its IMMEDIATE transactions already let one writer through at a time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [IMPORT_LOCK_KIND, campaign.pk])


def import_contacts(
    campaign: Campaign,
    stream: IO[bytes],
    filename: str = "",
    *,
    dry_run: bool = False,
    region: str | None = None,
    progress: Callable[[int], None] | None = None,
    atomic: bool = True,
) -> ImportReport:
    """Import a CSV/XLSX contact file into ``campaign``; a dry run checks everything, writes nothing.

    File-level problems are reported in ``file_error`` with nothing imported; row problems are
    listed in ``errors`` (spreadsheet row number, column, value, reason) and those rows skipped.
    ``progress(rows_read)`` is called after every batch.
    """
    report = ImportReport(dry_run=dry_run)
    region = (region or campaign.default_region or settings.NEWVOICE_DEFAULT_REGION).upper()
    try:
        if atomic:
            with transaction.atomic():
                _run(campaign, stream, filename, region, report, progress, write=True)
                if dry_run:
                    transaction.set_rollback(True)
        else:
            _prescan(stream, filename)
            _run(campaign, stream, filename, region, report, progress, write=not dry_run)
    except ImportFileError as exc:
        return ImportReport(dry_run=dry_run, file_error=str(exc))
    return report


def _open(stream: IO[bytes], filename: str):
    stream.seek(0)
    contact_file = open_contact_file(stream, filename, max_bytes=settings.NEWVOICE_IMPORT_MAX_BYTES)
    return contact_file, map_columns(contact_file.header)


def _prescan(stream: IO[bytes], filename: str) -> None:
    contact_file, _columns = _open(stream, filename)
    rows = sum(1 for _row in contact_file.rows)  # reads to the end: encoding and CSV errors surface here
    if not rows:
        raise ImportFileError(_("The file has a header row but no contacts."))


def _run(campaign, stream, filename, region, report, progress, *, write: bool) -> None:
    contact_file, columns = _open(stream, filename)
    batch = _Batch(campaign, report, write=write, column=columns.headers[columns.phone])
    for number, cells in contact_file.rows:
        report.total += 1
        try:
            candidate = _candidate(number, cells, columns, region)
        except RowError as exc:
            report.add_error(number, exc.column, exc.value, exc.reason)
            continue
        batch.add(candidate)
        if progress and report.total % BATCH_SIZE == 0:
            progress(report.total)
    batch.flush()
    report.errors.sort(key=lambda error: error["row"])  # found batch by batch; read top to bottom
    if report.total == 0:
        raise ImportFileError(_("The file has a header row but no contacts."))
    if progress:
        progress(report.total)


def run_contact_import(import_id: int) -> None:
    """The background import of an uploaded file (a django-q2 task): once, whoever claims it first."""
    job = ContactImport.objects.select_related("campaign").get(pk=import_id)
    if not job.claim():
        return
    try:
        with job.file.open("rb") as stream:
            report = import_contacts(
                job.campaign,
                stream,
                job.filename,
                dry_run=job.dry_run,
                region=job.region or None,
                progress=lambda rows: job.record_progress(rows, stream.tell()),
                atomic=False,
            )
    except Exception as exc:  # the job must end either way: a failure is shown on it, never left "running"
        logger.exception("Contact import %s failed", import_id)
        job.refresh_from_db(fields=["rows_processed"])
        reason = _(
            "The import stopped after %(rows)d rows: %(error)s. Rows of complete batches were imported; "
            "importing the file again skips them as duplicates."
        )
        job.finish(
            {
                "file_error": reason % {"rows": job.rows_processed, "error": f"{type(exc).__name__}: {exc}"[:500]},
                "total": job.rows_processed,
            }
        )
        return
    job.finish(report.as_dict())
