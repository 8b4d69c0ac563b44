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

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from django.conf import settings
from django.db import connection, reset_queries, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from campaigns.contacts.mapping import ColumnMapping, missing_columns, parse_mapping, propose
from campaigns.contacts.normalising import (
    Columns,
    RowError,
    cell_text,
    contact_numbers,
    has_phone_column,
    map_columns,
    normalise_timezone,
    refuse_unreadable_cells,
)
from campaigns.contacts.reading import ContactFile, ImportFileError, open_contact_file
from campaigns.models import CallTask, Campaign, ContactImport, DoNotCallEntry
from skillbases.config_errors import ConfigError
from skillbases.rendering import script_variables

BATCH_SIZE = 2000
logger = logging.getLogger(__name__)
_COPY_FIELDS = (
    "organization", "campaign", "phone", "other_phones", "wrong_phones", "dial_index", "source_row", "imported_at",
    "name", "variables", "timezones", "status", "outcome", "attempts",
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
    with_other_numbers: int = 0  # contacts with more than one number: the best is dialled first
    notes: list[dict[str, Any]] = field(default_factory=list)  # imported rows, and what was made of them
    notes_not_shown: int = 0
    sheet: str = ""  # the workbook's sheet read, when it is not the first
    # Each column's title → what it became: "phone", "name", "timezone", a variable, or "" (not read).
    columns: dict[str, str] = field(default_factory=dict)
    # The script's variables: those no column feeds, and how many imported rows have each empty.
    unmapped_variables: list[str] = field(default_factory=list)
    empty_variables: dict[str, int] = field(default_factory=dict)
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

    def note(self, row: int, column: str, value: Any, reason: str) -> None:
        """Say what was made of a row that was not skipped: the number chosen, a cell not used."""
        if len(self.notes) < MAX_REPORTED_ERRORS:
            self.notes.append({"row": row, "column": column, "value": "" if value is None else str(value), "reason": reason})
        else:
            self.notes_not_shown += 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Checkpoint:
    """Where a background import stands: every row up to ``row`` is decided (and, for a real
    import, written), with the report so far and the numbers it must still treat as seen."""

    row: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    now: str = ""  # the time the import's tasks are written with

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint | None:
        if not data.get("row"):
            return None
        return cls(row=data["row"], report=data["report"], seen=data.get("seen", {}), now=data.get("now", ""))


class ImportPaused(Exception):
    """A background import used up its slice at a batch boundary; it goes on from its checkpoint."""


class ImportTimedOut(Exception):
    """A background import ran past NEWVOICE_IMPORT_TIMEOUT; what it wrote stays, the rest does not."""

    def __init__(self, report: ImportReport, row: int):
        self.report, self.row = report, row
        super().__init__(row)


@dataclass
class _Candidate:
    row: int
    phone: str
    name: str
    timezones: list[str]
    variables: dict[str, str]
    others: list[str] = field(default_factory=list)
    notes: list[tuple[str, Any, str]] = field(default_factory=list)  # (column, value, note): reported if it is imported


class _Batch:
    """The file's rows, a batch at a time. The first row of a number decides it (imported, already in
    the campaign, on the do-not-call list); a later row with the same number is a duplicate of it,
    whichever batch either falls in, in a dry run as in the real import."""

    def __init__(self, campaign: Campaign, report: ImportReport, *, write: bool, column: str, saved: Checkpoint | None = None):
        self.campaign, self.report, self.write, self.column = campaign, report, write, column
        self.pending: dict[str, _Candidate] = {}
        # Numbers of earlier batches the table will not show: all of them without writes, the
        # do-not-call ones (never written) with them.
        # Keyed by the number's digits (an int takes half the memory of its text).
        self.seen: dict[int, int] = {int(key): row for key, row in saved.seen.items()} if saved else {}
        self.last_row = saved.row if saved else 0  # every row up to this one is decided
        self.save: Callable[[Checkpoint], None] | None = None  # set by a background import
        # The tasks this import writes carry this time as imported_at: a number found in the campaign with it was
        # written from an earlier row of this file (a resumed import keeps its first turn's time).
        self.now = dt.datetime.fromisoformat(saved.now) if saved and saved.now else timezone.now()

    def add(self, candidate: _Candidate) -> bool:
        """Take one row's contact; True when that completed (and wrote) a batch."""
        first = self.pending.get(candidate.phone)
        earlier = first.row if first is not None else self.seen.get(_digits(candidate.phone))
        if earlier is not None:
            self.report.duplicates += 1
            self.report.skipped(candidate.row, self.column, candidate.phone, _("The number is on row %(row)d already.") % {"row": earlier})
            return False
        self.pending[candidate.phone] = candidate
        if len(self.pending) >= BATCH_SIZE:
            self.flush()
            return True
        return False

    def checkpoint(self) -> Checkpoint:
        seen = {str(key): row for key, row in self.seen.items()}
        return Checkpoint(row=self.last_row, report=self.report.as_dict(), seen=seen, now=self.now.isoformat())

    def flush(self) -> None:
        if not self.pending:
            return
        # The check for numbers already there and the insert are one transaction, under a lock that
        # only other imports of this campaign take: parallel imports of one file then count exactly
        # (each number imported once, the others duplicates) and never collide on the insert. A
        # background import saves its place in the same transaction: what it wrote and where it
        # goes on from never disagree, whenever its worker dies.
        with transaction.atomic():
            if self.write:
                _lock_imports_of(self.campaign)
            self._flush()
            if self.write and self.save:
                self.save(self.checkpoint())
        # With DEBUG on, Django keeps every query's SQL (a bulk insert's is megabytes): an import
        # must not hold on to its own.
        reset_queries()

    def _flush(self) -> None:
        phones = list(self.pending)
        existing = {
            phone: row if imported_at == self.now else None
            for phone, imported_at, row in CallTask.objects.filter(campaign=self.campaign, phone__in=phones).values_list(
                "phone", "imported_at", "source_row"
            )
        }
        every_number = phones + [other for candidate in self.pending.values() for other in candidate.others]
        blocked = set(
            DoNotCallEntry.objects.filter(organization_id=self.campaign.organization_id, phone__in=every_number).values_list(
                "phone", flat=True
            )
        )
        fresh = []
        for candidate in self.pending.values():
            on_the_list = [number for number in (candidate.phone, *candidate.others) if number in blocked]
            if on_the_list:
                # A contact who asked not to be called is not called on another of their numbers either.
                self.report.dnc += 1
                self.report.skipped(candidate.row, self.column, on_the_list[0], _("The number is on the do-not-call list."))
                self.seen[_digits(candidate.phone)] = candidate.row
            elif candidate.phone in existing:
                self.report.duplicates += 1
                earlier = existing[candidate.phone]
                reason = (
                    _("The number is on row %(row)d already.") % {"row": earlier}
                    if earlier
                    else _("The number is in this campaign already.")
                )
                self.report.skipped(candidate.row, self.column, candidate.phone, reason)
            else:
                fresh.append(candidate)
                self.report.with_other_numbers += bool(candidate.others)
                for column, value, note in candidate.notes:
                    self.report.note(candidate.row, column, value, note)
        if self.write:
            self._insert(fresh)
        else:
            self.seen.update((_digits(candidate.phone), candidate.row) for candidate in fresh)
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
                others = json.dumps(c.others)
                copy.write_row(
                    (org, campaign, c.phone, others, "[]", 0, c.row, now, c.name, variables, zones, pending, "", 0, now, "{}", now, now)
                )

    def _task(self, c: _Candidate) -> CallTask:
        return CallTask(
            organization_id=self.campaign.organization_id,
            campaign=self.campaign,
            phone=c.phone,
            other_phones=c.others,
            source_row=c.row,
            imported_at=self.now,
            name=c.name,
            timezones=c.timezones,
            variables=c.variables,
            next_attempt_at=self.now,
        )


MAX_OTHER_NUMBERS = 9


@dataclass(frozen=True)
class Plan:
    """How the file's columns are read, and what the script wants of each row."""

    columns: Columns
    mapping: ColumnMapping
    script: tuple[str, ...]  # the variables the script uses

    def apply(self, candidate: _Candidate, report: ImportReport) -> None:
        """Fill or refuse what the script needs and the row lacks (RowError to refuse), and count
        the variables the bot will have to leave out."""
        values = {**candidate.variables, "name": candidate.name}
        for variable in self.script:
            if values.get(variable):
                continue
            if variable in self.mapping.refuse_empty:
                column = self.column_of(variable)
                reason = _("The script says {%(variable)s}, and this row has no %(what)s; the import was told to refuse such rows.")
                what = _("«%(column)s»") % {"column": column} if column else _("column for it")
                raise RowError(column or variable, "", reason % {"variable": variable, "what": what})
            if variable in self.mapping.fill_empty:
                if variable == "name":
                    candidate.name = self.mapping.fill_empty[variable]
                else:
                    candidate.variables[variable] = self.mapping.fill_empty[variable]
                continue
            report.empty_variables[variable] = report.empty_variables.get(variable, 0) + 1

    def column_of(self, variable: str) -> str:
        headers = self.columns.headers
        if variable == "name":
            return headers[self.columns.name] if self.columns.name is not None else ""
        return next((headers[index] for index, key in self.columns.variables if key == variable), "")

    def describe(self, report: ImportReport) -> None:
        headers = self.columns.headers
        shown = dict.fromkeys((h for h in headers if h), "")
        for index, _kind in self.columns.phones:
            shown[headers[index]] = "phone"
        for role in ("name", "timezone"):
            if (index := getattr(self.columns, role)) is not None:
                shown[headers[index]] = role
        for index, role in self.columns.part_roles:
            shown[headers[index]] = "name" if len(self.columns.part_roles) == 1 else role
        for index, key in self.columns.variables:
            shown[headers[index]] = key
        report.columns = shown
        report.unmapped_variables = [v for v in self.script if not self.column_of(v) and v not in self.mapping.fill_empty]


def script_variables_of(campaign: Campaign) -> tuple[str, ...]:
    """The variables the campaign's script uses; none when its configuration is broken (a campaign
    cannot start then, and the file still imports as its titles say)."""
    try:
        return tuple(script_variables(campaign.skillbase.parsed_config()))
    except ConfigError:
        return ()


def plan_columns(header: list[str], mapping: ColumnMapping, script: tuple[str, ...]) -> Columns:
    """The columns as the script wants them: the proposed pairing, then the operator's choices."""
    if problems := missing_columns(mapping.columns, header):
        raise ImportFileError(" ".join(problems))
    return map_columns(header, {**propose(header, list(script)), **mapping.columns})


def read_row(number: int, cells: list[Any], columns: Columns, region: str) -> _Candidate:
    def cell(index: int | None) -> Any:
        return cells[index] if index is not None and index < len(cells) else None

    refuse_unreadable_cells(cells, columns.headers)
    numbers, problems = contact_numbers(cells, columns, region)
    best, others = numbers[0], numbers[1 : MAX_OTHER_NUMBERS + 1]
    notes = [(column, value, _("Not used: %(reason)s") % {"reason": reason}) for column, value, reason in problems]
    if others:
        kept = ", ".join(f"{other.e164} ({other.column})" for other in others)
        notes.append((best.column, best.e164, _("Dialled first; kept for later attempts: %(numbers)s.") % {"numbers": kept}))
    zones = best.zones
    if columns.timezone is not None and cell_text(cell(columns.timezone)):
        try:
            zones = normalise_timezone(cell(columns.timezone), columns.headers[columns.timezone])
        except RowError as exc:
            notes.append((exc.column, exc.value, _("%(reason)s The number's own time zone is used.") % {"reason": exc.reason}))
    variables = {key: text for index, key in columns.variables if (text := cell_text(cell(index)))}
    if best.extension:
        variables["extension"] = best.extension
    name = cell_text(cell(columns.name))
    if not name and columns.name_parts:
        name = " ".join(part for index in columns.name_parts if (part := cell_text(cell(index))))
    return _Candidate(number, best.e164, name[:200], list(zones), variables, [other.e164 for other in others], notes)


def _digits(phone: str) -> int:
    return int(phone[1:])


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
    mapping: ColumnMapping | None = None,
) -> ImportReport:
    """Import a CSV/XLSX contact file into ``campaign``; a dry run checks everything, writes nothing.

    File-level problems are reported in ``file_error`` with nothing imported; row problems are
    listed in ``errors`` (spreadsheet row number, column, value, reason) and those rows skipped.
    ``progress(rows_read)`` is called after every batch.
    """
    report = ImportReport(dry_run=dry_run)
    region = (region or campaign.default_region or settings.NEWVOICE_DEFAULT_REGION).upper()
    mapping = mapping or ColumnMapping()
    try:
        if atomic:
            with transaction.atomic():
                _run(campaign, stream, filename, region, report, progress, write=True, mapping=mapping)
                if dry_run:
                    transaction.set_rollback(True)
        else:
            _prescan(stream, filename)
            _run(campaign, stream, filename, region, report, progress, write=not dry_run, mapping=mapping)
    except ImportFileError as exc:
        return ImportReport(dry_run=dry_run, file_error=str(exc))
    return report


def open_contacts(stream: IO[bytes], filename: str) -> ContactFile:
    stream.seek(0)
    return open_contact_file(stream, filename, max_bytes=settings.NEWVOICE_IMPORT_MAX_BYTES, is_header=has_phone_column)


def _prescan(stream: IO[bytes], filename: str, *, heartbeat: Callable[[int], None] | None = None) -> None:
    contact_file = open_contacts(stream, filename)
    rows = 0
    for _row in contact_file.rows:  # reads to the end: encoding and CSV errors surface here
        rows += 1
        if heartbeat and rows % (BATCH_SIZE * 10) == 0:
            heartbeat(rows)
    if not rows:
        raise ImportFileError(_("The file has a header row but no contacts."))


def _run(campaign, stream, filename, region, report, progress, *, write: bool, mapping: ColumnMapping,
         background: _Slice | None = None) -> None:  # fmt: skip
    contact_file = open_contacts(stream, filename)
    script = script_variables_of(campaign)
    columns = plan_columns(contact_file.header, mapping, script)
    plan = Plan(columns, mapping, script)
    plan.describe(report)
    saved = background.saved if background else None
    batch = _Batch(campaign, report, write=write, column=columns.headers[columns.phone], saved=saved)
    report.sheet = contact_file.sheet
    if background:
        batch.save = background.save
    for number, cells in contact_file.rows:
        if number <= batch.last_row and saved:
            continue  # decided before the import was resumed
        report.total += 1
        batch.last_row = number
        try:
            candidate = read_row(number, cells, columns, region)
            plan.apply(candidate, report)
        except RowError as exc:
            report.add_error(number, exc.column, exc.value, exc.reason)
            continue
        if batch.add(candidate) and background:
            background.after_batch(batch)
        if progress and report.total % BATCH_SIZE == 0:
            progress(report.total)
    batch.flush()
    report.errors.sort(key=lambda error: error["row"])  # found batch by batch; read top to bottom
    report.notes.sort(key=lambda note: note["row"])
    if report.total == 0:
        raise ImportFileError(_("The file has a header row but no contacts."))
    if progress:
        progress(report.total)


@dataclass
class _Slice:
    """A background import's turn: it saves its place with each batch (``save``), pauses when its
    slice is used up and gives up at the import's time limit, both at a batch boundary."""

    saved: Checkpoint | None
    save: Callable[[Checkpoint], None]
    pause_at: float  # time.monotonic()
    give_up_at: dt.datetime

    def after_batch(self, batch: _Batch) -> None:
        if timezone.now() >= self.give_up_at:
            raise ImportTimedOut(batch.report, batch.last_row)
        if time.monotonic() >= self.pause_at:
            if not batch.write:  # a dry run wrote nothing, so its place is saved only when it pauses
                self.save(batch.checkpoint())
            raise ImportPaused


def run_contact_import(import_id: int) -> None:
    """The background import of an uploaded file (a django-q2 task): once, whoever claims it first.

    It works for at most NEWVOICE_IMPORT_SLICE_SECONDS, then queues its next turn, so no turn comes
    near the worker's timeout; each committed batch saves its place, so a turn whose worker died is
    resumed from there by ``reap_imports``. After NEWVOICE_IMPORT_TIMEOUT it stops with what it wrote.
    """
    job = ContactImport.objects.select_related("campaign").filter(pk=import_id).first()
    if job is None or not job.claim():
        return
    with translation.override(job.language or settings.LANGUAGE_CODE):  # the report speaks its uploader's language
        _run_turn(job)


def _run_turn(job: ContactImport) -> None:
    import_id = job.pk
    saved = Checkpoint.from_dict(job.checkpoint)
    report = ImportReport(dry_run=job.dry_run, **_report_fields(saved.report)) if saved else ImportReport(dry_run=job.dry_run)
    region = (job.region or job.campaign.default_region or settings.NEWVOICE_DEFAULT_REGION).upper()
    try:
        with job.file.open("rb") as stream:

            def save(checkpoint: Checkpoint) -> None:
                job.record_progress(checkpoint.report["total"], stream.tell(), checkpoint=asdict(checkpoint))

            turn = _Slice(
                saved=saved,
                save=save,
                pause_at=time.monotonic() + settings.NEWVOICE_IMPORT_SLICE_SECONDS,
                give_up_at=job.started_at + dt.timedelta(seconds=settings.NEWVOICE_IMPORT_TIMEOUT),
            )
            if saved is None:
                _prescan(stream, job.filename, heartbeat=lambda rows: job.record_progress(0, stream.tell()))
            _run(job.campaign, stream, job.filename, region, report, lambda rows: job.record_progress(rows, stream.tell()),
                 write=not job.dry_run, mapping=parse_mapping(job.mapping), background=turn)  # fmt: skip
    except ImportPaused:
        if job.requeue():
            _enqueue(job.pk)
        return
    except ImportTimedOut as exc:
        job.finish(_timed_out(exc, dry_run=job.dry_run))
        return
    except ImportFileError as exc:
        job.finish(ImportReport(dry_run=job.dry_run, file_error=str(exc)).as_dict())
        return
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


def _report_fields(data: dict[str, Any]) -> dict[str, Any]:
    names = {f for f in ImportReport.__dataclass_fields__ if f != "dry_run"}
    return {name: value for name, value in data.items() if name in names}


def _timed_out(exc: ImportTimedOut, *, dry_run: bool) -> dict[str, Any]:
    minutes = settings.NEWVOICE_IMPORT_TIMEOUT / 60
    if dry_run:
        reason = _("The dry run took longer than the limit of %(minutes)g minutes and stopped at row %(row)d.")
    else:
        reason = _(
            "The import took longer than the limit of %(minutes)g minutes and stopped at row %(row)d: the contacts "
            "up to that row were imported, the rest were not. Import the file again to add the rest "
            "(the contacts already imported are skipped as duplicates)."
        )
    exc.report.errors.sort(key=lambda error: error["row"])
    return {**exc.report.as_dict(), "file_error": reason % {"minutes": minutes, "row": exc.row}}


def _enqueue(import_id: int) -> None:
    from django_q.tasks import async_task  # the queue only when an import goes to the background

    # Its own timeout: a turn lasts a slice, so a worker still busy well past it has hung.
    timeout = settings.NEWVOICE_IMPORT_SLICE_SECONDS + STALLED_AFTER.total_seconds()
    async_task("campaigns.contacts.importing.run_contact_import", import_id, task_name=f"import-{import_id}", timeout=int(timeout))


def enqueue_import(job: ContactImport) -> None:
    """Queue a background import once the transaction that created it commits."""
    transaction.on_commit(lambda: _enqueue(job.pk))


# A running import saves its progress every batch (well under a second of work): one silent for this
# long has lost its worker (killed at a timeout, out of memory, restarted).
STALLED_AFTER = dt.timedelta(minutes=5)
MAX_RESUMES = 3


def reap_imports(now: dt.datetime) -> int:
    """Resume background imports whose worker stopped answering, from their checkpoint; after
    MAX_RESUMES such stalls, fail them saying where they stopped. Delete the files of dry runs left
    unconfirmed for NEWVOICE_IMPORT_PREVIEW_HOURS. Returns how many stalled imports were found."""
    stalled = list(
        ContactImport.objects.filter(status=ContactImport.Status.RUNNING, heartbeat_at__lt=now - STALLED_AFTER).order_by("id")[:100]
    )
    for job in stalled:
        try:
            _revive(job)
        except Exception:  # one broken import must not stop the others, nor the dispatch after it
            logger.exception("Could not resume stalled contact import %s", job.pk)
    _forget_old_previews(now)
    return len(stalled)


def _revive(job: ContactImport) -> None:
    if job.resumes < MAX_RESUMES:
        if job.requeue(stalled=True):
            logger.warning("Contact import %s stopped answering at row %s; resuming it", job.pk, job.checkpoint.get("row", 0))
            _enqueue(job.pk)
        return
    saved = Checkpoint.from_dict(job.checkpoint)
    report = dict(saved.report) if saved else {"total": job.rows_processed}
    row = saved.row if saved else 0
    if job.dry_run:
        reason = _("The dry run stopped answering %(times)d times (last at row %(row)d) and was given up. Upload the file again.")
    else:
        reason = _(
            "The import stopped answering %(times)d times (last at row %(row)d) and was given up: the contacts up to "
            "that row were imported, the rest were not. Import the file again to add the rest."
        )
    report["file_error"] = reason % {"times": job.resumes + 1, "row": row}
    with transaction.atomic():
        if ContactImport.objects.select_for_update().filter(pk=job.pk, status=ContactImport.Status.RUNNING).exists():
            job.finish(report)


def _forget_old_previews(now: dt.datetime) -> None:
    """A dry run's file (personal data) is kept for its confirmation, not for ever."""
    cutoff = now - dt.timedelta(hours=settings.NEWVOICE_IMPORT_PREVIEW_HOURS)
    waiting = [ContactImport.Status.QUEUED, ContactImport.Status.RUNNING]
    in_use = ContactImport.objects.filter(Q(status__in=waiting) | Q(status=ContactImport.Status.MAPPING, created_at__gte=cutoff)).values(
        "file"
    )
    unconfirmed = Q(dry_run=True, finished_at__lt=cutoff) | Q(status=ContactImport.Status.MAPPING, created_at__lt=cutoff)
    old = ContactImport.objects.filter(unconfirmed).exclude(file="").exclude(file__in=in_use)
    for job in old[:500]:
        job.forget_file()
