"""Contact import throughput and memory, against a plain django-import-export resource and raw COPY.

    .venv/bin/python bench/bench_import.py [--rows 100000] [--iex-rows 10000]

Runs on PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/newvoice_bench; the
database is created and migrated). It writes a realistic CSV (mixed national and international
formats, Excel floats, 3% invalid, 2% duplicates, 1% on the do-not-call list) and imports it three
ways, each in a fresh process so that peak memory is that method's own:

- ours: ``campaigns.contacts.importing.import_contacts`` with every check, end to end from the file;
- iex: a plain django-import-export ``ModelResource`` with default settings (no normalisation, no
  checks), on the first ``--iex-rows`` rows because it is slow; the rate is what is compared;
- copy: PostgreSQL ``COPY`` of already-clean rows into the same table: the physical ceiling.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, ensure_database, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/newvoice_bench"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def formats(number: int) -> str:
    digits = f"912{number:07d}"
    style = number % 6
    if style == 0:
        return f"+7 {digits[:3]} {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
    if style == 1:
        return f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
    if style == 2:
        return f"8{digits}"
    if style == 3:
        return f"7{digits}"
    if style == 4:
        return f"7{digits}.0"  # a float Excel wrote out as text
    return f"+7{digits}"


def write_file(path: Path, rows: int, seed: int = 7) -> list[str]:
    """Writes the CSV; returns the E.164 numbers to put on the do-not-call list."""
    rng = random.Random(seed)
    services = ["маникюр", "педикюр", "стрижка", "окрашивание", "массаж"]
    dnc = []
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("Телефон;ФИО;Услуга;Комментарий\n")
        for i in range(rows):
            roll = rng.random()
            if roll < 0.03:
                phone = rng.choice(["12345", "не указан", "+7 912", "8 800 ABC", "+44 7700 900123"])
            elif roll < 0.05 and i > 10:
                phone = formats(rng.randrange(i))  # a duplicate of an earlier row, maybe written differently
            else:
                phone = formats(i)
                if roll < 0.06:
                    dnc.append(f"+7912{i:07d}")
            out.write(f"{phone};Клиент {i};{rng.choice(services)};строка {i}\n")
    return dnc


def fresh_campaign(dnc: list[str]):
    from django.core.management import call_command
    from django.db import connection

    from campaigns.models import Campaign, DoNotCallEntry
    from skillbases.models import Skillbase
    from tenancy.models import Organization

    call_command("migrate", verbosity=0)
    # TRUNCATE, not the ORM's delete: deleting a million earlier tasks through Django's collector
    # would load them all into this process and count against the memory being measured.
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Organization._meta.db_table} CASCADE")
    org = Organization.objects.create(name="Bench", slug="bench")
    config = json.loads((ROOT / "bench" / "skillbase.json").read_text())
    skillbase = Skillbase(organization=org, name="Bench", **config)
    skillbase.save()
    DoNotCallEntry.objects.bulk_create([DoNotCallEntry(organization=org, phone=p) for p in dnc])
    return Campaign.objects.create(organization=org, name="Bench", skillbase=skillbase, default_region="RU")


def run_ours(path: Path, dnc: list[str]) -> dict:
    from campaigns.contacts.importing import import_contacts

    campaign = fresh_campaign(dnc)
    started = time.perf_counter()
    with path.open("rb") as stream:
        report = import_contacts(campaign, stream, path.name)
    seconds = time.perf_counter() - started
    if report.file_error:
        raise SystemExit(f"import failed: {report.file_error}")
    rows = report.total
    return {
        "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "peak_rss_mb": peak_rss_mb(),
        "imported": report.imported, "duplicates": report.duplicates, "dnc": report.dnc, "invalid": report.invalid,
    }  # fmt: skip


def run_iex(path: Path, rows: int) -> dict:
    import tablib
    from import_export import resources

    from campaigns.models import CallTask

    campaign = fresh_campaign([])

    class TaskResource(resources.ModelResource):
        class Meta:
            model = CallTask
            fields = ("id", "organization", "campaign", "phone", "name")

    with path.open(encoding="utf-8") as source:
        lines = [line.rstrip("\n") for line in itertools.islice(source, 1, rows + 1)]
    dataset = tablib.Dataset(headers=["organization", "campaign", "phone", "name"])
    for line in lines:
        phone, name, _service, _comment = line.split(";")
        dataset.append([campaign.organization_id, campaign.pk, phone[:16], name])
    started = time.perf_counter()
    result = TaskResource().import_data(dataset, raise_errors=False)
    seconds = time.perf_counter() - started
    return {
        "rows": len(lines),
        "seconds": seconds,
        "rows_per_s": len(lines) / seconds,
        "peak_rss_mb": peak_rss_mb(),
        "errors": result.has_errors(),
    }


def run_copy(rows: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    campaign = fresh_campaign([])
    now = timezone.now()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.copy(
            "COPY campaigns_calltask (organization_id, campaign_id, phone, other_phones, wrong_phones, dial_index, source_row, "
            "imported_at, name, variables, timezones, status, outcome, attempts, next_attempt_at, result, created_at, updated_at) "
            "FROM STDIN"
        ) as copy:
            for i in range(rows):
                copy.write_row(
                    (campaign.organization_id, campaign.pk, f"+7912{i:07d}", "[]", "[]", 0, i + 2, now, f"Клиент {i}",
                     '{"услуга": "стрижка"}', '["Europe/Moscow"]', "pending", "", 0, now, "{}", now, now)
                )  # fmt: skip
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "peak_rss_mb": peak_rss_mb()}


def child(args) -> None:
    setup_django(args.database_url, NEWVOICE_IMPORT_MAX_BYTES=str(2**31))  # 1M rows are over the upload limit
    path = Path(args.file)
    dnc = json.loads(Path(args.file + ".dnc.json").read_text())
    if args.phase == "ours":
        result = run_ours(path, dnc)
    elif args.phase == "iex":
        result = run_iex(path, args.iex_rows)
    else:
        result = run_copy(args.rows)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--iex-rows", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--phase", choices=["ours", "iex", "copy"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args)
        return
    ensure_database(args.database_url)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "contacts.csv"
        dnc = write_file(path, args.rows)
        Path(str(path) + ".dnc.json").write_text(json.dumps(dnc))
        print(f"file: {args.rows} rows, {path.stat().st_size / 2**20:.1f} MB, {len(dnc)} numbers on the do-not-call list")
        results = {}
        for phase in ("ours", "iex", "copy"):
            command = [sys.executable, __file__, "--phase", phase, "--file", str(path), "--rows", str(args.rows),
                       "--iex-rows", str(args.iex_rows), "--database-url", args.database_url]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{phase} failed:\n{done.stderr}")
            results[phase] = json.loads(done.stdout.strip().splitlines()[-1])
    ours, iex, copy = results["ours"], results["iex"], results["copy"]
    print(f"{'method':<34}{'rows':>9}{'seconds':>10}{'rows/s':>10}{'peak RSS MB':>13}")
    for label, r in (("ours (all checks)", ours), ("django-import-export ModelResource", iex), ("PostgreSQL COPY (ceiling)", copy)):
        print(f"{label:<34}{r['rows']:>9}{r['seconds']:>10.2f}{r['rows_per_s']:>10.0f}{r['peak_rss_mb']:>13.0f}")
    print(f"ours: imported {ours['imported']}, duplicates {ours['duplicates']}, do-not-call {ours['dnc']}, invalid {ours['invalid']}")
    print(f"ratio ours / django-import-export: {ours['rows_per_s'] / iex['rows_per_s']:.1f}x")
    print(f"ratio ours / COPY ceiling: {ours['rows_per_s'] / copy['rows_per_s']:.2f}")


if __name__ == "__main__":
    main()
