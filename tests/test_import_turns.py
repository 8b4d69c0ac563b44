"""Background imports work in turns, save their place with every batch, are resumed when their
worker dies, stop at their own time limit, and a dry run's file is not kept for ever."""

import datetime as dt
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from campaigns.actions import add_to_do_not_call, start_contact_import
from campaigns.contacts.importing import BATCH_SIZE, MAX_RESUMES, STALLED_AFTER, import_contacts, reap_imports, run_contact_import
from campaigns.models import CallTask, ContactImport
from tests.support.databases import database_url
from tests.support.engine import make_campaign

ROOT = Path(__file__).resolve().parent.parent
ROWS = 5 * BATCH_SIZE + 700
BLOCKED = ("+79160000007", "+79160000070")


def contacts_file(rows: int = ROWS) -> bytes:
    """Unique numbers with, spread over several batches: bad numbers, repeats of early numbers
    late in the file, and do-not-call numbers that come back in later batches."""
    lines = ["phone,name"]
    for n in range(rows):
        if n % 997 == 5:
            lines.append(f"not-a-number-{n},Bad {n}")
        elif n % 1500 == 1499:
            lines.append(f"+7916{n - 1400:07d},Again {n}")
        elif n % 2100 == 2099:
            lines.append(f"{BLOCKED[n % 2]},Blocked again {n}")
        else:
            lines.append(f"+7916{n:07d},Contact {n}")
    return ("\n".join(lines) + "\n").encode()


def background_job(campaign, data: bytes, *, dry_run: bool = False) -> ContactImport:
    return start_contact_import(campaign, SimpleUploadedFile("contacts.csv", data), dry_run=dry_run)


def counts(report: dict) -> tuple:
    keys = ("total", "imported", "duplicates", "dnc", "invalid", "file_error")
    return tuple(report.get(key) for key in keys), [(e["row"], e["reason"]) for e in report["errors"]]


@pytest.fixture
def blocked(org):
    for phone in BLOCKED:
        add_to_do_not_call(org.pk, phone)


@pytest.fixture
def in_the_background(settings):
    settings.NEWVOICE_IMPORT_BACKGROUND_BYTES = 0


def stopped_at(pattern: str, message: str) -> int:
    match = re.search(pattern, message)
    assert match, message
    return int(match.group(1))


def imported_up_to(org, skillbase, row: int) -> int:
    """What a foreground import of the file's rows up to ``row`` (a spreadsheet row) imports."""
    lines = contacts_file().decode().splitlines()[:row]
    return foreground_report(org, skillbase, ("\n".join(lines) + "\n").encode())["imported"]


def foreground_report(org, skillbase, data: bytes, *, dry_run: bool = False) -> dict:
    reference = make_campaign(org, skillbase, name=f"Reference {CallTask.objects.count()}")
    return import_contacts(reference, io.BytesIO(data), "contacts.csv", dry_run=dry_run).as_dict()


@pytest.mark.django_db
@pytest.mark.parametrize("dry_run", [False, True], ids=["import", "dry-run"])
def test_an_import_in_short_turns_ends_exactly_as_one_in_a_single_go(org, skillbase, blocked, in_the_background, settings, dry_run):
    data = contacts_file()
    expected = foreground_report(org, skillbase, data, dry_run=dry_run)
    settings.NEWVOICE_IMPORT_SLICE_SECONDS = 0  # every turn ends after its first batch
    campaign = make_campaign(org, skillbase)
    job = background_job(campaign, data, dry_run=dry_run)
    turns, places = 0, []
    while True:
        run_contact_import(job.pk)
        turns += 1
        job.refresh_from_db()
        if job.status != ContactImport.Status.QUEUED:
            break
        places.append(job.checkpoint["row"])
        assert job.rows_processed == job.checkpoint["report"]["total"]
    assert job.status == ContactImport.Status.DONE, job.report
    assert turns == 6 and places == sorted(places) and len(set(places)) == 5
    assert counts(job.report) == counts(expected)
    assert CallTask.objects.filter(campaign=campaign).count() == (0 if dry_run else expected["imported"])
    assert job.checkpoint == {}


@pytest.mark.django_db
def test_a_stalled_import_is_resumed_from_its_last_batch(org, skillbase, blocked, in_the_background, settings):
    data = contacts_file()
    expected = foreground_report(org, skillbase, data)
    settings.NEWVOICE_IMPORT_SLICE_SECONDS = 0
    campaign = make_campaign(org, skillbase)
    job = background_job(campaign, data)
    run_contact_import(job.pk)  # one batch written and its place saved ...
    # ... then a worker took the next turn and died (killed at a timeout): running, silent.
    ContactImport.objects.filter(pk=job.pk).update(status=ContactImport.Status.RUNNING)
    assert reap_imports(timezone.now()) == 0  # not silent for long enough yet
    assert reap_imports(timezone.now() + STALLED_AFTER + dt.timedelta(seconds=1)) == 1
    job.refresh_from_db()
    assert (job.status, job.resumes) == (ContactImport.Status.QUEUED, 1)
    settings.NEWVOICE_IMPORT_SLICE_SECONDS = 600
    run_contact_import(job.pk)
    job.refresh_from_db()
    assert job.status == ContactImport.Status.DONE
    assert counts(job.report) == counts(expected)
    assert CallTask.objects.filter(campaign=campaign).count() == expected["imported"]


@pytest.mark.django_db
def test_an_import_that_keeps_stalling_is_given_up_saying_where_it_stopped(org, skillbase, in_the_background, settings):
    settings.NEWVOICE_IMPORT_SLICE_SECONDS = 0
    campaign = make_campaign(org, skillbase)
    job = background_job(campaign, contacts_file())
    run_contact_import(job.pk)
    later = timezone.now()
    for _ in range(MAX_RESUMES + 1):
        ContactImport.objects.filter(pk=job.pk).update(status=ContactImport.Status.RUNNING, heartbeat_at=later)
        later += STALLED_AFTER + dt.timedelta(seconds=1)
        assert reap_imports(later) == 1
    job.refresh_from_db()
    assert job.status == ContactImport.Status.FAILED
    row = stopped_at(rf"stopped answering {MAX_RESUMES + 1} times \(last at row (\d+)\)", job.report["file_error"])
    assert job.report["imported"] == CallTask.objects.filter(campaign=campaign).count() == imported_up_to(org, skillbase, row)
    assert reap_imports(later + STALLED_AFTER * 2) == 0


@pytest.mark.django_db
def test_an_import_past_its_time_limit_stops_with_what_it_wrote(org, skillbase, in_the_background, settings):
    settings.NEWVOICE_IMPORT_TIMEOUT = 0
    campaign = make_campaign(org, skillbase)
    job = background_job(campaign, contacts_file())
    run_contact_import(job.pk)
    job.refresh_from_db()
    assert job.status == ContactImport.Status.FAILED
    row = stopped_at(r"longer than the limit of 0 minutes and stopped at row (\d+)", job.report["file_error"])
    assert job.report["imported"] == CallTask.objects.filter(campaign=campaign).count() == imported_up_to(org, skillbase, row)
    assert row < ROWS / 2
    assert not job.file.name  # a real import's upload is deleted however it ended


@pytest.mark.django_db
def test_an_unconfirmed_dry_run_file_is_deleted_after_its_hours(org, skillbase, operator, client, in_the_background, settings):
    campaign = make_campaign(org, skillbase)
    preview = background_job(campaign, contacts_file(50), dry_run=True)
    run_contact_import(preview.pk)
    preview.refresh_from_db()
    storage, name = preview.file.storage, preview.file.name
    assert preview.status == ContactImport.Status.DONE and storage.exists(name)
    with django_capture_on_commit():
        reap_imports(timezone.now() + dt.timedelta(hours=settings.NEWVOICE_IMPORT_PREVIEW_HOURS - 1))
    assert storage.exists(name)
    with django_capture_on_commit():
        reap_imports(timezone.now() + dt.timedelta(hours=settings.NEWVOICE_IMPORT_PREVIEW_HOURS, minutes=1))
    preview.refresh_from_db()
    assert not storage.exists(name) and preview.preview_expired
    client.force_login(operator)
    page = f"/admin/campaigns/campaign/{campaign.pk}/imports/{preview.pk}/"
    response = client.get(page)
    assert b"no longer kept" in response.content and b'name="confirm"' not in response.content
    response = client.post(page, {"confirm": "1"})
    assert response.status_code == 302 and ContactImport.objects.filter(campaign=campaign).count() == 1


@pytest.mark.django_db
def test_a_dry_run_file_a_queued_import_still_reads_is_kept(org, skillbase, in_the_background, settings):
    from campaigns.actions import confirm_contact_import

    campaign = make_campaign(org, skillbase)
    preview = background_job(campaign, contacts_file(50), dry_run=True)
    run_contact_import(preview.pk)
    preview.refresh_from_db()
    real = confirm_contact_import(preview)  # queued, not run yet
    with django_capture_on_commit():
        reap_imports(timezone.now() + dt.timedelta(hours=settings.NEWVOICE_IMPORT_PREVIEW_HOURS + 1))
    assert preview.file.storage.exists(preview.file.name)
    run_contact_import(real.pk)
    real.refresh_from_db()
    assert real.status == ContactImport.Status.DONE and real.report["imported"] == preview.report["imported"] == 49


def django_capture_on_commit():
    """Run on-commit callbacks (the file deletions) inside a test's transaction."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_import_is_resumed_and_the_counts_add_up(org, skillbase, blocked, in_the_background, settings, tmp_path):
    """A real worker process, killed with SIGKILL in the middle of the file: its last batch's
    transaction is rolled back by the database, the reaper resumes the import from the batch
    before, and the report and the list are those of an import that never stopped."""
    rows = 20 * BATCH_SIZE
    data = contacts_file(rows)
    expected = foreground_report(org, skillbase, data)
    campaign = make_campaign(org, skillbase)
    settings.MEDIA_ROOT = str(tmp_path)
    job = background_job(campaign, data)
    env = {
        **{key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")},
        "DJANGO_SETTINGS_MODULE": "newvoice.settings", "DATABASE_URL": database_url(), "SECRET_KEY": "test-only",
        "MEDIA_ROOT": str(tmp_path), "PYTHONPATH": str(ROOT), "NEWVOICE_IMPORT_BACKGROUND_BYTES": "0",
    }  # fmt: skip
    code = f"from campaigns.contacts.importing import run_contact_import; run_contact_import({job.pk})"
    worker = subprocess.Popen([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and worker.poll() is None:
            place = ContactImport.objects.values_list("checkpoint", flat=True).get(pk=job.pk).get("row", 0)
            if place > 3 * BATCH_SIZE:
                break
            time.sleep(0.01)
        assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    job.refresh_from_db()
    assert job.status == ContactImport.Status.RUNNING and 0 < job.checkpoint["row"] < rows
    written = CallTask.objects.filter(campaign=campaign).count()
    assert written == job.checkpoint["report"]["imported"]  # what was committed is what the place says
    assert reap_imports(timezone.now() + STALLED_AFTER + dt.timedelta(seconds=1)) == 1
    run_contact_import(job.pk)
    job.refresh_from_db()
    assert job.status == ContactImport.Status.DONE and job.resumes == 1
    assert counts(job.report) == counts(expected)
    assert CallTask.objects.filter(campaign=campaign).count() == expected["imported"]


@pytest.mark.django_db
def test_a_background_import_reports_in_its_uploader_s_language(org, skillbase, in_the_background):
    from django.utils import translation

    campaign = make_campaign(org, skillbase)
    with translation.override("ru"):
        job = background_job(campaign, b"phone\n12\n+79160000001\n")
    run_contact_import(job.pk)  # a worker, with no language of its own
    job.refresh_from_db()
    assert job.language == "ru" and job.report["errors"][0]["reason"] == "Номер слишком короткий для своей страны."
