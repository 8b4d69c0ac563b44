"""Campaign results as CSV or XLSX: one row per contact with its latest call."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext as _

from campaigns.models import Call, CallTask, Campaign

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value) -> str:
    """Neutralise spreadsheet formulas in free text (CSV injection); E.164 phones stay as they are."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES) and not _is_e164(text):
        return "'" + text
    return text


def _is_e164(text: str) -> bool:
    return text.startswith("+") and text[1:].isdigit() and 7 <= len(text) <= 16


def result_rows(campaign: Campaign) -> tuple[list[str], Iterator[list[str]]]:
    """Header and rows; collected fields become columns (their union over the campaign)."""
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
    collected_keys = sorted({key for result in tasks.values_list("result", flat=True) for key in (result or {})})
    header = [_("name"), _("phone"), _("status"), _("outcome"), _("attempts"), _("last call"), _("duration, s"), _("cost")]
    header += collected_keys

    def rows() -> Iterator[list[str]]:
        for task in tasks.iterator(chunk_size=2000):
            duration = (task.last_ended - task.last_answered).total_seconds() if task.last_answered and task.last_ended else None
            row = [
                task.name,
                task.phone,
                task.get_status_display(),
                task.get_outcome_display() if task.outcome else "",
                task.attempts,
                task.last_call_at.isoformat() if task.last_call_at else "",
                f"{duration:.0f}" if duration is not None else "",
                "" if task.last_cost is None else str(task.last_cost),
            ]
            row += [(task.result or {}).get(key, "") for key in collected_keys]
            yield [escape_cell(cell) for cell in row]

    return [escape_cell(h) for h in header], rows()


def export_csv(campaign: Campaign) -> Iterator[str]:
    """Streams CSV text (UTF-8 with BOM, so Excel opens Cyrillic correctly)."""
    header, rows = result_rows(campaign)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_xlsx(campaign: Campaign) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Results")[:31])
    header, rows = result_rows(campaign)
    sheet.append(header)
    for row in rows:
        # Cells are written as strings, so nothing is evaluated as a formula either way.
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
