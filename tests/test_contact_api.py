"""The API doors of contact import, results export and the do-not-call list."""

import csv
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_q.conf import Conf
from openpyxl import load_workbook
from rest_framework.test import APIClient

from campaigns.actions import add_to_do_not_call
from campaigns.models import CallTask, Campaign, ContactImport, DoNotCallEntry

FIXTURES = Path(__file__).parent / "fixtures" / "contacts"


@pytest.fixture
def campaign(org, skillbase):
    return Campaign.objects.create(organization=org, name="Spring sale", skillbase=skillbase, default_region="RU")


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def upload(client, campaign, name, query=""):
    data = {"file": SimpleUploadedFile(name, (FIXTURES / name).read_bytes())}
    return client.post(f"/api/campaigns/{campaign.pk}/call-list{query}", data, format="multipart")


def test_upload_imports_and_reports_per_row(campaign, operator):
    response = upload(api(operator), campaign, "invalid_numbers.csv")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["total"], body["imported"], body["invalid"]) == (6, 1, 5)
    assert body["errors"][0] == {"row": 2, "column": "phone", "value": "12345", "reason": "The number is too short for its country."}
    assert CallTask.objects.filter(campaign=campaign).count() == 1


def test_dry_run_writes_nothing(campaign, operator):
    response = upload(api(operator), campaign, "contacts.xlsx", "?dry_run=1")
    assert response.status_code == 200
    assert response.json()["imported"] == 3 and response.json()["dry_run"] is True
    assert not CallTask.objects.exists()


def test_unreadable_file_is_400_with_the_reason(campaign, operator):
    response = upload(api(operator), campaign, "no_phone_column.csv")
    assert response.status_code == 400
    assert "No phone column found" in response.json()["detail"]
    assert not CallTask.objects.exists()


def test_missing_file_field_names_the_field(campaign, operator):
    response = api(operator).post(f"/api/campaigns/{campaign.pk}/call-list", {}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()


def test_over_the_size_limit_is_413(campaign, operator, settings):
    settings.NEWVOICE_IMPORT_MAX_BYTES = 20
    response = upload(api(operator), campaign, "utf8_comma.csv")
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert not CallTask.objects.exists()


def test_large_file_imports_in_background_with_progress(
    campaign, operator, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    settings.NEWVOICE_IMPORT_BACKGROUND_BYTES = 10
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(Conf, "SYNC", True)
    client = api(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, campaign, "cp1251_semicolon.csv")
    assert response.status_code == 202
    job_id = response.json()["id"]
    status = client.get(f"/api/campaigns/{campaign.pk}/imports/{job_id}").json()
    assert status["status"] == "done" and status["progress"] == 1.0
    assert status["report"]["imported"] == 4 and status["report"]["notes"][0]["row"] == 5
    assert "own time zone is used" in status["report"]["notes"][0]["reason"]
    assert CallTask.objects.filter(campaign=campaign).count() == 4
    assert ContactImport.objects.get().rows_processed == 4


def test_background_import_with_file_error_fails_and_writes_nothing(
    campaign, operator, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    settings.NEWVOICE_IMPORT_BACKGROUND_BYTES = 1
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(Conf, "SYNC", True)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(api(operator), campaign, "binary.csv")
    job = ContactImport.objects.get(pk=response.json()["id"])
    assert job.status == ContactImport.Status.FAILED
    assert "not text" in job.report["file_error"]
    assert not CallTask.objects.exists()


def test_roles_and_organizations(campaign, viewer, outsider):
    assert upload(api(viewer), campaign, "utf8_comma.csv").status_code == 403
    assert upload(api(outsider), campaign, "utf8_comma.csv").status_code == 404
    assert upload(api(), campaign, "utf8_comma.csv").status_code in (401, 403)
    assert not CallTask.objects.exists()


def test_export_escapes_formulas_and_keeps_phones(campaign, operator, viewer):
    upload(api(operator), campaign, "quoted_multiline.csv")
    CallTask.objects.filter(phone="+79123450032").update(result={"slot": "@SUM(A1)", "note": "-1+1"})
    response = api(viewer).get(f"/api/campaigns/{campaign.pk}/export?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = {row[1]: row for row in csv.reader(io.StringIO(text))}
    header = rows.pop("phone")
    assert header[:5] == ["name", "phone", "status", "outcome", "attempts"]
    assert set(rows) == {"+79123450031", "+79123450032", "+79123450033"}
    jane = dict(zip(header, rows["+79123450032"], strict=True))
    assert jane["slot"] == "'@SUM(A1)" and jane["note (collected)"] == "'-1+1"  # the file has a note column too
    assert jane["status"] == "Pending"


def test_export_xlsx(campaign, operator):
    upload(api(operator), campaign, "quoted_multiline.csv")
    CallTask.objects.filter(phone="+79123450033").update(name="=cmd|' /C calc'!A0")
    response = api(operator).get(f"/api/campaigns/{campaign.pk}/export?format=xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:2] == ["name", "phone"]
    by_phone = {row[1]: row for row in values[1:]}
    assert by_phone["+79123450033"][0] == "'=cmd|' /C calc'!A0"
    assert "+79123450031" in by_phone


def test_export_of_another_organizations_campaign_is_404(campaign, outsider):
    assert api(outsider).get(f"/api/campaigns/{campaign.pk}/export?format=csv").status_code == 404


def test_dnc_create_normalises_and_cancels_pending_tasks(campaign, operator, org):
    upload(api(operator), campaign, "utf8_comma.csv")
    response = api(operator).post("/api/dnc", {"phone": "8 (912) 345-00-01", "reason": "asked on the phone"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["phone"] == "+79123450001"
    assert response.json()["cancelled_tasks"] == 1
    assert CallTask.objects.get(phone="+79123450001").status == CallTask.Status.CANCELLED
    entry = DoNotCallEntry.objects.get()
    assert (entry.organization, entry.source, entry.created_by) == (org, "api", operator)


def test_dnc_invalid_phone_names_the_field(operator):
    response = api(operator).post("/api/dnc", {"phone": "12345"}, format="json")
    assert response.status_code == 400
    assert "too short" in response.json()["phone"][0]
    assert not DoNotCallEntry.objects.exists()


def test_dnc_list_and_delete_are_scoped(org, other_org, operator, viewer):
    ours, _ = add_to_do_not_call(org.pk, "+79123450001")
    theirs, _ = add_to_do_not_call(other_org.pk, "+79123450002")
    listed = api(viewer).get("/api/dnc").json()["results"]
    assert [e["phone"] for e in listed] == ["+79123450001"]
    assert api(viewer).delete(f"/api/dnc/{ours.pk}").status_code == 403
    assert api(operator).delete(f"/api/dnc/{theirs.pk}").status_code == 404
    assert api(operator).delete(f"/api/dnc/{ours.pk}").status_code == 204
    assert list(DoNotCallEntry.objects.values_list("phone", flat=True)) == ["+79123450002"]


def test_viewer_cannot_add_to_dnc(viewer):
    assert api(viewer).post("/api/dnc", {"phone": "+79123450001"}, format="json").status_code == 403
    assert not DoNotCallEntry.objects.exists()


def test_the_xlsx_export_is_typed_for_a_spreadsheet(org, operator, skillbase):
    import datetime as dt
    from decimal import Decimal

    from analytics.models import CallMetrics
    from tests.support.calls import conversation, ended_call

    campaign = Campaign.objects.create(organization=org, name="Typed", skillbase=skillbase, default_timezone="Asia/Yekaterinburg")
    call = ended_call(campaign, events=conversation(("assistant", "Hi"), ("user", "yes"), steps=("greeting",)), last_step="greeting")
    CallTask.objects.filter(pk=call.task_id).update(
        variables={"service": "=1+2", "visits": "3"}, result={"visit_at": "2026-12-09T15:00", "service": "стрижка"}
    )
    CallMetrics.objects.filter(call=call).update(cost_total=Decimal("0.0123456"))
    answered = dt.datetime(2026, 12, 8, 9, 0, 5, 123456, tzinfo=dt.UTC)
    type(call).objects.filter(pk=call.pk).update(
        created_at=answered - dt.timedelta(seconds=20), answered_at=answered, ended_at=answered + dt.timedelta(seconds=75.4)
    )
    response = api(operator).get(f"/api/campaigns/{campaign.pk}/export?format=xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    header = [cell.value for cell in sheet[1]]
    assert header == ["name", "phone", "status", "outcome", "attempts", "last call (Asia/Yekaterinburg)", "talk time, s", "cost, USD",
                      "service", "visits", "service (collected)", "visit_at"]  # fmt: skip
    row = {h: cell for h, cell in zip(header, sheet[2], strict=True)}
    assert row["last call (Asia/Yekaterinburg)"].value == dt.datetime(2026, 12, 8, 13, 59, 45)  # UTC+5, whole seconds
    assert row["last call (Asia/Yekaterinburg)"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert row["talk time, s"].value == 75 and row["attempts"].value == 1
    assert row["cost, USD"].value == pytest.approx(0.0123) and row["cost, USD"].number_format == "0.0000"
    assert row["service"].value == "'=1+2" and row["service"].data_type == "s"  # a contact's formula stays text
    assert row["phone"].value.startswith("+7926") and row["phone"].data_type == "s"
    assert row["service (collected)"].value == "стрижка" and row["visit_at"].value == "2026-12-09T15:00"
