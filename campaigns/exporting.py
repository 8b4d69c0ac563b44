"""Campaign results as CSV or XLSX: one row per contact with its latest call."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Call, CallTask, Campaign

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
COST_STEP = Decimal("0.0001")  # costs to 4 decimals: a call costs fractions of a cent


def escape_cell(value) -> str:
    """Neutralise spreadsheet formulas in free text (CSV injection); E.164 phones stay as they are."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES) and not _is_e164(text):
        return "'" + text
    return text


def _is_e164(text: str) -> bool:
    return text.startswith("+") and text[1:].isdigit() and 7 <= len(text) <= 16


@dataclass(frozen=True)
class Results:
    """The export's header and its rows of typed values: numbers as numbers, times as naive
    datetimes at ``zone`` (the campaign's clock, named in the header), text as text."""

    header: list[str]
    rows: Iterator[list[Any]]
    zone: str


def result_rows(campaign: Campaign) -> Results:
    """One row per contact with its latest call; then the contact's own columns (the file's, as
    imported) and the fields its calls collected, each the union over the campaign."""
    latest = Call.objects.filter(task=OuterRef("pk")).order_by("-attempt")
    tasks = (
        CallTask.objects.filter(campaign=campaign)
        .annotate(
            last_call_at=Subquery(latest.values("created_at")[:1]),
            last_answered=Subquery(latest.values("answered_at")[:1]),
            last_ended=Subquery(latest.values("ended_at")[:1]),
            last_cost=Subquery(latest.values("metrics__cost_total")[:1]),
        )
        .order_by("id")
    )
    own_keys: dict[str, None] = {}
    collected_keys: set[str] = set()
    for variables, result in tasks.values_list("variables", "result").iterator(chunk_size=5000):
        own_keys.update(dict.fromkeys(variables or {}))
        collected_keys.update(result or {})
    zone = campaign.default_timezone or settings.TIME_ZONE
    clock = ZoneInfo(zone)
    header = [_("name"), _("phone"), _("status"), _("outcome"), _("attempts"), _("last call (%(zone)s)") % {"zone": zone},
              _("talk time, s"), _("cost, %(currency)s") % {"currency": settings.NEWVOICE_CURRENCY}]  # fmt: skip
    # By name: the database keeps a contact's columns as JSON, in no order of the file's.
    own = sorted(own_keys)
    header += own
    collected = sorted(collected_keys)
    header += [_("%(field)s (collected)") % {"field": key} if key in own_keys else key for key in collected]

    def rows() -> Iterator[list[Any]]:
        for task in tasks.iterator(chunk_size=2000):
            talk = (task.last_ended - task.last_answered).total_seconds() if task.last_answered and task.last_ended else None
            yield [
                task.name,
                task.phone,
                task.get_status_display(),
                task.get_outcome_display() if task.outcome else "",
                task.attempts,
                timezone.localtime(task.last_call_at, clock).replace(tzinfo=None, microsecond=0) if task.last_call_at else None,
                round(talk) if talk is not None else None,
                None if task.last_cost is None else task.last_cost.quantize(COST_STEP),
                *[(task.variables or {}).get(key, "") for key in own],
                *[(task.result or {}).get(key, "") for key in collected],
            ]

    return Results(header, rows(), zone)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def export_csv(campaign: Campaign) -> Iterator[str]:
    """Streams CSV text (UTF-8 with BOM, so Excel opens Cyrillic correctly)."""
    results = result_rows(campaign)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([escape_cell(h) for h in results.header])
    for row in results.rows:
        writer.writerow([escape_cell(_text(cell)) for cell in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_xlsx(campaign: Campaign) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Results")[:31])
    results = result_rows(campaign)
    sheet.append([escape_cell(h) for h in results.header])
    for row in results.rows:
        # Text is escaped like the CSV's (openpyxl would take "=…" for a formula); numbers and times
        # keep their types, so a spreadsheet sums and sorts them.
        sheet.append([_xlsx_cell(sheet, cell) for cell in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _xlsx_cell(sheet, value: Any):
    from openpyxl.cell import WriteOnlyCell

    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    if isinstance(value, dt.datetime):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if isinstance(value, Decimal):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "0.0000"
        return cell
    if isinstance(value, int | float):
        return value
    return escape_cell(value)
