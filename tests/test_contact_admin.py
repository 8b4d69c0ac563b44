"""The admin door of contact import (dry-run preview, then confirm), export and do-not-call import."""

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_q.conf import Conf
from openpyxl import load_workbook

from campaigns.actions import add_to_do_not_call
from campaigns.models import CallTask, Campaign, ContactImport, DoNotCallEntry

FIXTURES = Path(__file__).parent / "fixtures" / "contacts"


@pytest.fixture
def campaign(org, skillbase):
    return Campaign.objects.create(organization=org, name="Spring", skillbase=skillbase, default_region="RU")


def upload(client, campaign, name, region=""):
    """Upload, keep the proposed column mapping, check the whole file: the redirect to its report."""
    data = {"file": SimpleUploadedFile(name, (FIXTURES / name).read_bytes()), "region": region}
    response = client.post(f"/admin/campaigns/campaign/{campaign.pk}/import-contacts/", data)
    if response.status_code != 302:
        return response
    assert "/mapping/" in response["Location"]
    mapping = client.get(response["Location"])
    if b'id="file-error"' in mapping.content:
        return response
    return client.post(response["Location"], {"action": "run"})


def test_preview_then_confirm(client, operator, campaign):
    client.force_login(operator)
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/import-contacts/").status_code == 200
    response = upload(client, campaign, "invalid_numbers.csv")
    assert response.status_code == 302
    preview = client.get(response["Location"])
    html = preview.content.decode()
    assert "Would be imported" in html and "The number is too short for its country." in html
    assert "<td>12345</td>" in html and "Import 1 contacts" in html
    assert not CallTask.objects.exists()

    confirmed = client.post(response["Location"], {"confirm": "1"})
    assert confirmed.status_code == 302
    assert list(CallTask.objects.values_list("phone", flat=True)) == ["+79123450051"]
    final = client.get(confirmed["Location"]).content.decode()
    assert "Imported" in final and "Back to the campaign" in final
    assert ContactImport.objects.filter(dry_run=False, status="done").count() == 1


def test_file_problem_is_shown_and_nothing_is_written(client, operator, campaign):
    client.force_login(operator)
    response = upload(client, campaign, "no_phone_column.csv")
    page = client.get(response["Location"]).content.decode()
    assert "No phone column found" in page and "Import " not in page.split("file-error")[1][:200]
    assert not CallTask.objects.exists()


def test_confirming_twice_does_not_duplicate(client, operator, campaign):
    client.force_login(operator)
    report_url = upload(client, campaign, "utf8_comma.csv")["Location"]
    client.post(report_url, {"confirm": "1"})
    client.post(report_url, {"confirm": "1"})
    assert CallTask.objects.count() == 3


def test_large_file_is_imported_in_the_background_with_progress(
    client, operator, campaign, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    settings.NEWVOICE_IMPORT_BACKGROUND_BYTES = 10
    settings.MEDIA_ROOT = tmp_path
    client.force_login(operator)
    report_url = upload(client, campaign, "cp1251_semicolon.csv")["Location"]
    running = client.get(report_url).content.decode()
    assert 'http-equiv="refresh"' in running and "Reading the file" in running
    monkeypatch.setattr(Conf, "SYNC", True)
    job = ContactImport.objects.get()
    from campaigns.contacts.importing import run_contact_import

    run_contact_import(job.pk)
    done = client.get(report_url).content.decode()
    assert "Would be imported" in done and "Unknown time zone" in done and "own time zone is used" in done
    with django_capture_on_commit_callbacks(execute=True):
        client.post(report_url, {"confirm": "1"})
    assert CallTask.objects.filter(campaign=campaign).count() == 4
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "cp1251_semicolon.csv" in page and "100%" in page


def test_roles_and_organizations(client, viewer, outsider, campaign):
    client.force_login(viewer)
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/import-contacts/").status_code == 403
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/export/csv/").status_code == 200
    client.force_login(outsider)
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/import-contacts/").status_code == 404
    assert upload(client, campaign, "utf8_comma.csv").status_code == 404
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/export/xlsx/").status_code == 404
    assert not CallTask.objects.exists()


def test_another_campaigns_import_report_is_404(client, operator, campaign, skillbase):
    client.force_login(operator)
    report_url = upload(client, campaign, "utf8_comma.csv")["Location"]
    other = Campaign.objects.create(organization=campaign.organization, name="Other", skillbase=skillbase)
    job_id = report_url.rstrip("/").rsplit("/", 1)[1]
    assert client.get(f"/admin/campaigns/campaign/{other.pk}/imports/{job_id}/").status_code == 404


def test_export_from_the_admin(client, operator, campaign):
    client.force_login(operator)
    report_url = upload(client, campaign, "quoted_multiline.csv")["Location"]
    client.post(report_url, {"confirm": "1"})
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "Results CSV" in page and "Import contacts" in page
    csv_text = b"".join(client.get(f"/admin/campaigns/campaign/{campaign.pk}/export/csv/").streaming_content).decode("utf-8-sig")
    # The file's own columns come back, a formula in one of them escaped.
    assert "'=HYPERLINK" in csv_text and ",=HYPERLINK" not in csv_text
    assert "+79123450031" in csv_text
    xlsx = client.get(f"/admin/campaigns/campaign/{campaign.pk}/export/xlsx/")
    rows = list(load_workbook(io.BytesIO(xlsx.content), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert len(rows) == 4
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/export/pdf/").status_code == 404


def test_do_not_call_file_import(client, operator, viewer, org, campaign):
    client.force_login(operator)
    report_url = upload(client, campaign, "utf8_comma.csv")["Location"]
    client.post(report_url, {"confirm": "1"})
    add_to_do_not_call(org.pk, "+79123450002")
    content = "телефон;причина\n8 912 345-00-01;просил не звонить\n+79123450002;\n12345;\n"
    response = client.post(
        "/admin/campaigns/donotcallentry/import-file/",
        {"organization": org.pk, "region": "RU", "file": SimpleUploadedFile("dnc.csv", content.encode())},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<th>Added</th><td>1</td>" in html and "<th>Already on the list</th><td>1</td>" in html
    assert "<th>Pending calls cancelled</th><td>1</td>" in html
    entry = DoNotCallEntry.objects.get(phone="+79123450001")
    assert (entry.reason, entry.source, entry.created_by) == ("просил не звонить", "import", operator)
    assert CallTask.objects.get(phone="+79123450001").status == "cancelled"
    client.force_login(viewer)
    assert client.get("/admin/campaigns/donotcallentry/import-file/").status_code == 403


def test_do_not_call_import_of_another_organization_is_refused(client, operator, other_org):
    client.force_login(operator)
    response = client.post(
        "/admin/campaigns/donotcallentry/import-file/",
        {"organization": other_org.pk, "file": SimpleUploadedFile("dnc.csv", b"phone\n+79123450001\n")},
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not DoNotCallEntry.objects.exists()
