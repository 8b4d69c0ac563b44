import json
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campaigns.contacts.importing import import_contacts, script_variables_of
from campaigns.contacts.mapping import MappingError, parse_mapping
from campaigns.models import Campaign, ContactImport

REPORT_KEYS = ("total", "imported", "duplicates", "dnc", "invalid", "errors")


class Command(BaseCommand):
    help = "Import contacts from a CSV or XLSX file into a campaign (the same import as the admin and the API)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--campaign", type=int, required=True, help="Campaign id.")
        parser.add_argument("--dry-run", action="store_true", help="Check everything, write nothing.")
        parser.add_argument("--region", help="Country for numbers without a country code (default: the campaign's).")
        parser.add_argument("--json", action="store_true", help="Print one JSON object with the report.")
        parser.add_argument(
            "--map", action="append", default=[], metavar="COLUMN=TARGET",
            help="Read the column as a variable of the script (or phone, name, timezone; nothing after '=' leaves it out). Repeatable.",
        )  # fmt: skip
        parser.add_argument(
            "--refuse-empty", action="append", default=[], metavar="VARIABLE", help="Refuse rows without this variable. Repeatable."
        )
        parser.add_argument(
            "--fill-empty", action="append", default=[], metavar="VARIABLE=WORDS",
            help="What the bot says for this variable when a row has none. Repeatable.",
        )  # fmt: skip

    def handle(self, *args, file: Path, campaign: int, dry_run: bool, region: str | None, json: bool, **options):
        try:
            target = Campaign.objects.get(pk=campaign)
        except Campaign.DoesNotExist:
            raise CommandError(f"No campaign with id {campaign}.") from None
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        spec = {
            "columns": _pairs(options["map"], "--map"),
            "refuse_empty": options["refuse_empty"],
            "fill_empty": _pairs(options["fill_empty"], "--fill-empty"),
        }
        try:
            mapping = parse_mapping(spec, variables=list(script_variables_of(target)))
        except MappingError as exc:
            raise CommandError(str(exc)) from None
        # A large file imports as the background task does, in batches that each commit: on the
        # embedded SQLite a single transaction would hold its only write lock for minutes, and every
        # other writer (the web, the dispatcher) would fail meanwhile.
        in_batches = ContactImport.goes_to_background(file.stat().st_size)
        with file.open("rb") as stream:
            progress = None if json else _Progress(stream, file.stat().st_size, self.stderr)
            report = import_contacts(
                target, stream, file.name, dry_run=dry_run, region=region, progress=progress, atomic=not in_batches, mapping=mapping
            )
        if progress:
            progress.done()
        if json:
            self._print_json(report)
        else:
            self._print_summary(report, target)
        if report.file_error:
            raise CommandError(report.file_error)

    def _print_json(self, report) -> None:
        body = report.as_dict()
        out = {key: body[key] for key in REPORT_KEYS}
        out.update(
            dry_run=report.dry_run, errors_not_shown=report.errors_not_shown, notes=report.notes, notes_not_shown=report.notes_not_shown,
            with_other_numbers=report.with_other_numbers, sheet=report.sheet, columns=report.columns,
            unmapped_variables=report.unmapped_variables, empty_variables=report.empty_variables,
        )  # fmt: skip
        if report.file_error:
            out["file_error"] = report.file_error
        self.stdout.write(json.dumps(out, ensure_ascii=False))

    def _print_summary(self, report, campaign) -> None:
        if report.file_error:
            return
        verb = "would be imported" if report.dry_run else "imported"
        self.stdout.write(
            f"{report.total} rows: {report.imported} {verb} into '{campaign}', {report.duplicates} duplicates, "
            f"{report.dnc} on the do-not-call list, {report.invalid} invalid."
        )
        if report.sheet:
            self.stdout.write(f"Read from the sheet '{report.sheet}': the first sheet has no phone column.")
        if report.with_other_numbers:
            self.stdout.write(f"{report.with_other_numbers} contacts have more than one number: the best is dialled first.")
        for variable in report.unmapped_variables:
            self.stdout.write(f"No column holds {{{variable}}}: the script uses it, and every contact is greeted without it.")
        for variable, rows in sorted(report.empty_variables.items()):
            self.stdout.write(f"{{{variable}}} is empty in {rows} rows: the bot leaves it out there.")
        for error in report.errors[:50]:
            self.stdout.write(f"  row {error['row']}, {error['column']} = {error['value']!r}: {error['reason']}")
        hidden = len(report.errors) - 50 + report.errors_not_shown
        if hidden > 0:
            self.stdout.write(f"  … and {hidden} more (use --json for all).")


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, equals, rest = value.partition("=")
        if not equals or not key.strip():
            raise CommandError(f"{option} takes NAME=VALUE; '{value}' is not.")
        pairs[key.strip()] = rest.strip()
    return pairs


class _Progress:
    """A one-line progress bar on a terminal, by bytes read; silent when not a terminal."""

    def __init__(self, stream, size: int, out):
        self.stream, self.size, self.out = stream, max(size, 1), out
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()

    def __call__(self, rows: int) -> None:
        if not self.enabled:
            return
        share = min(self.stream.tell() / self.size, 1.0)
        rate = rows / max(time.monotonic() - self.started, 1e-6)
        bar = "#" * int(share * 30)
        self.out.write(f"\r[{bar:<30}] {share:4.0%} {rows} rows, {rate:,.0f} rows/s", ending="")
        self.out.flush()

    def done(self) -> None:
        if self.enabled:
            self.out.write("")
