"""The import's mapping step: the first rows of a file read with a mapping and greeted as the
campaign's script would greet them, before anything is imported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings

from campaigns.contacts.importing import ImportReport, Plan, open_contacts, plan_columns, read_row, script_variables_of
from campaigns.contacts.mapping import ColumnMapping
from campaigns.contacts.normalising import RowError, cell_text
from campaigns.contacts.reading import ImportFileError
from campaigns.models import Campaign
from skillbases.config_errors import ConfigError
from skillbases.rendering import greeting

PREVIEW_ROWS = 5


@dataclass
class ImportPreview:
    """The mapping step's view of a file: its columns and what each becomes, the script's variables,
    and the first rows as the bot would greet them. Nothing is written."""

    columns: dict[str, str]  # title → what it becomes (ImportReport.columns)
    samples: dict[str, list[str]]  # title → its first values
    variables: list[str]  # the script's
    unmapped: list[str]  # the script's variables no column feeds
    rows: list[dict[str, Any]]  # row, phone, zone, name, greeting, missing, error
    empty_in_sample: dict[str, int]
    file_error: str = ""
    headers: list[str] = field(default_factory=list)  # the file's, in order


def preview_import(campaign: Campaign, stream: IO[bytes], filename: str, mapping: ColumnMapping, *, region: str = "") -> ImportPreview:
    """How the first rows of the file would be read with ``mapping`` and greeted by the campaign's script."""
    region = (region or campaign.default_region or settings.NEWVOICE_DEFAULT_REGION).upper()
    script = script_variables_of(campaign)
    try:
        contact_file = open_contacts(stream, filename)
        plan = Plan(plan_columns(contact_file.header, mapping, script), mapping, script)
    except ImportFileError as exc:
        return ImportPreview({}, {}, list(script), [], [], {}, file_error=str(exc))
    report = ImportReport(dry_run=True)
    plan.describe(report)
    try:
        config = campaign.skillbase.parsed_config()
    except ConfigError:
        config = None
    headers = plan.columns.headers
    samples: dict[str, list[str]] = {h: [] for h in headers if h}
    rows = []
    try:
        for number, cells in contact_file.rows:
            for index, title in enumerate(headers):
                if title and index < len(cells) and (text := cell_text(cells[index])) and len(samples[title]) < 3:
                    samples[title].append(text[:80])
            rows.append(_preview_row(number, cells, plan, region, report, config))
            if len(rows) >= PREVIEW_ROWS:
                break
    except ImportFileError as exc:
        return ImportPreview(
            report.columns, samples, list(script), report.unmapped_variables, rows, {}, file_error=str(exc), headers=list(headers)
        )
    return ImportPreview(
        report.columns, samples, list(script), report.unmapped_variables, rows, report.empty_variables, headers=list(headers)
    )


def _preview_row(number: int, cells: list[Any], plan: Plan, region: str, report: ImportReport, config) -> dict[str, Any]:
    before = dict(report.empty_variables)
    try:
        candidate = read_row(number, cells, plan.columns, region)
        plan.apply(candidate, report)
    except RowError as exc:
        return {"row": number, "error": f"{exc.column}: {exc.reason}"}
    missing = [v for v, count in report.empty_variables.items() if count > before.get(v, 0)]
    values = {**candidate.variables, "name": candidate.name, "phone": candidate.phone}
    return {
        "row": number,
        "phone": candidate.phone,
        "zones": candidate.timezones,
        "name": candidate.name,
        "greeting": greeting(config, values) if config else "",
        "missing": missing,
        "error": "",
    }
