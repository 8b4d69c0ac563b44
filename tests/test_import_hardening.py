"""Contact files that broke the import: a stray NUL character (a zero byte) refuses the row that
holds it, wherever in the file it is, through every door (only a file full of control bytes is
refused as not text); and an import keeps no query log, whatever DEBUG says."""

import io

import pytest
from rest_framework.test import APIClient

from campaigns.actions import start_contact_import
from campaigns.contacts.dnc import import_do_not_call
from campaigns.contacts.importing import import_contacts
from campaigns.models import CallTask, DoNotCallEntry
from tests.support.engine import make_campaign

pytestmark = pytest.mark.django_db(transaction=True)
ROWS = 3000  # well past the first 64 KB the reader sniffs


def with_nul(at: int) -> bytes:
    lines = ["phone,name"] + [f"+7916{n:07d},Contact {n}" + (" \x00" if n == at else "") + "x" * 20 for n in range(ROWS)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("at", [5, ROWS - 5], ids=["early", "past-64-KB"])
@pytest.mark.parametrize("atomic", [True, False], ids=["foreground", "background"])
def test_the_row_with_a_nul_is_refused_and_the_rest_imported(org, skillbase, at, atomic):
    campaign = make_campaign(org, skillbase)
    report = import_contacts(campaign, io.BytesIO(with_nul(at)), "contacts.csv", atomic=atomic)
    assert report.file_error == ""
    assert (report.total, report.imported, report.invalid) == (ROWS, ROWS - 1, 1)
    [error] = report.errors
    assert error["row"] == at + 2 and error["column"] == "name" and "NUL character" in error["reason"]
    assert CallTask.objects.filter(campaign=campaign).count() == ROWS - 1


def test_a_dry_run_says_the_same(org, skillbase):
    campaign = make_campaign(org, skillbase)
    report = import_contacts(campaign, io.BytesIO(with_nul(ROWS - 5)), "contacts.csv", dry_run=True)
    assert (report.imported, report.invalid) == (ROWS - 1, 1) and not CallTask.objects.exists()


def test_the_api_and_a_background_job_end_with_the_row_refused(org, skillbase, operator, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    campaign = make_campaign(org, skillbase)
    client = APIClient()
    client.force_authenticate(operator)
    upload = SimpleUploadedFile("contacts.csv", with_nul(ROWS - 5), content_type="text/csv")
    response = client.post(f"/api/campaigns/{campaign.pk}/call-list", {"file": upload}, format="multipart")
    assert response.status_code == 200 and response.json()["invalid"] == 1
    settings.NEWVOICE_IMPORT_BACKGROUND_BYTES = 0  # the same file as a background job, run here
    job = start_contact_import(make_campaign(org, skillbase, name="Other"), SimpleUploadedFile("c.csv", with_nul(ROWS - 5)))
    from campaigns.contacts.importing import run_contact_import

    run_contact_import(job.pk)
    job.refresh_from_db()
    assert job.status == job.Status.DONE and job.report["invalid"] == 1 and job.report["imported"] == ROWS - 1


def test_the_do_not_call_import_refuses_such_a_row_too(org):
    data = b"phone,reason\n+79161234567,asked\n+79161234568,bad\x00reason\n"
    report = import_do_not_call(org.pk, io.BytesIO(data), "dnc.csv", region="RU")
    assert (report.added, report.invalid) == (1, 1) and report.errors[0]["column"] == "reason"
    assert DoNotCallEntry.objects.count() == 1


def test_a_file_full_of_zero_bytes_is_not_text(org, skillbase):
    campaign = make_campaign(org, skillbase)
    report = import_contacts(campaign, io.BytesIO(b"phone\n" + b"\x00\x01" * 5000), "contacts.csv")
    assert report.file_error == "This file is not text: upload a CSV or XLSX file."


@pytest.mark.django_db
def test_an_import_keeps_no_query_log_even_with_debug_on(org, skillbase, settings):
    from django.db import connection

    settings.DEBUG = True
    campaign = make_campaign(org, skillbase)
    lines = ["phone"] + [f"+7916{n:07d}" for n in range(10_000)]
    import_contacts(campaign, io.BytesIO(("\n".join(lines) + "\n").encode()), "contacts.csv")
    assert CallTask.objects.filter(campaign=campaign).count() == 10_000
    assert len(connection.queries) < 10  # the last batch's few, not every batch's bulk SQL


@pytest.mark.django_db(transaction=True)
def test_uploaded_files_are_deleted_after_the_import_and_with_their_campaign(org, skillbase, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from campaigns.actions import confirm_contact_import

    settings.MEDIA_ROOT = str(tmp_path)
    data = b"phone,name\n+79161234567,Anna\n+79161234568,Boris\n"
    campaign = make_campaign(org, skillbase)
    preview = start_contact_import(campaign, SimpleUploadedFile("contacts.csv", data), dry_run=True)
    stored = tmp_path / preview.file.name
    assert stored.exists()  # the dry run keeps it: confirming reads it again
    real = confirm_contact_import(preview)
    assert real.report["imported"] == 2 and not stored.exists()
    preview.refresh_from_db()
    assert preview.file.name == "" and preview.report["imported"] == 2  # the report stays

    other = make_campaign(org, skillbase, name="Autumn")
    unconfirmed = start_contact_import(other, SimpleUploadedFile("autumn.csv", data), dry_run=True)
    kept = tmp_path / unconfirmed.file.name
    assert kept.exists()
    other.delete()
    assert not kept.exists()


@pytest.mark.parametrize("atomic", [True, False], ids=["foreground", "background"])
def test_a_number_repeated_across_batches_is_classified_by_its_first_row_in_a_dry_run_as_for_real(org, skillbase, atomic):
    """A do-not-call number on rows 2, 2502 and 5001 (three batches apart): on the list once, then
    duplicates of row 2, whichever batch a row falls in; and the preview lists each skipped row."""
    blocked = "+79160000000"
    DoNotCallEntry.objects.create(organization=org, phone=blocked)
    lines = ["phone"] + [blocked if n in (0, 2500, 4999) else f"+7917{n:07d}" for n in range(6000)]
    data = ("\n".join(lines) + "\n").encode()
    reports = []
    for dry_run in (True, False):
        campaign = make_campaign(org, skillbase, name=f"run {dry_run}")
        reports.append(import_contacts(campaign, io.BytesIO(data), "contacts.csv", dry_run=dry_run, atomic=atomic))
    for report in reports:
        assert (report.imported, report.dnc, report.duplicates) == (5997, 1, 2)
        assert [(e["row"], e["reason"]) for e in report.errors] == [
            (2, "The number is on the do-not-call list."),
            (2502, "The number is on row 2 already."),
            (5001, "The number is on row 2 already."),
        ]


@pytest.mark.parametrize(
    ("cell", "number", "extension"),
    [("+7 916 123-45-67 доб. 123", "+79161234567", "123"), ("8 (495) 123-45-67, вн. 45", "+74951234567", "45"),
     ("8 495 123 45 67 добавочный 7", "+74951234567", "7")],
)  # fmt: skip
def test_russian_extensions_are_read(cell, number, extension):
    from campaigns.contacts.normalising import normalise_phone

    assert normalise_phone(cell, "RU")[:2] == (number, extension)


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("4915112345678", "a number of DE written without its +: write it as +4915112345678"),
    ],
)
def test_reasons_name_the_real_problem(org, skillbase, cell, reason):
    campaign = make_campaign(org, skillbase)
    report = import_contacts(campaign, io.BytesIO(f'phone\n"{cell}"\n+79160000001\n'.encode()), "contacts.csv")
    assert report.invalid == 1 and reason in report.errors[0]["reason"]


def test_a_400_kb_field_refuses_its_row_by_number_and_the_rest_imports(org, skillbase):
    campaign = make_campaign(org, skillbase)
    data = f"phone,note\n+79160000001,short\n+79160000002,{'x' * 400_000}\n+79160000003,short\n".encode()
    report = import_contacts(campaign, io.BytesIO(data), "contacts.csv")
    assert report.file_error == "" and (report.imported, report.invalid) == (2, 1)
    assert report.errors[0]["row"] == 3 and report.errors[0]["column"] == "note" and "400000 characters" in report.errors[0]["reason"]


def test_a_zip_named_csv_is_called_a_zip_archive(org, skillbase):
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("contacts.csv", "phone\n+79160000001\n")
    report = import_contacts(make_campaign(org, skillbase), io.BytesIO(archive.getvalue()), "contacts.csv")
    assert report.file_error == "This file is a ZIP archive, not a CSV or XLSX file: unpack it and upload the file inside."
