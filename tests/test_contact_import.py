"""Contact import through ``manage.py import_contacts`` on a folder of awkward real-world files.

The expected report of each file is in tests/fixtures/contacts/expected.json, checked by hand.
"""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from campaigns.actions import add_to_do_not_call
from campaigns.models import CallTask, Campaign

FIXTURES = Path(__file__).parent / "fixtures" / "contacts"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
ROW_FILES = [name for name, spec in EXPECTED.items() if "file_error" not in spec]
BAD_FILES = [name for name, spec in EXPECTED.items() if "file_error" in spec]


@pytest.fixture
def campaign(org, skillbase):
    return Campaign.objects.create(organization=org, name="Spring", skillbase=skillbase, default_region="RU")


def run_import(campaign, name, *extra):
    out = io.StringIO()
    region = EXPECTED.get(name, {}).get("region")
    args = ["import_contacts", "--campaign", str(campaign.pk), str(FIXTURES / name), "--json", *extra]
    if region:
        args += ["--region", region]
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize("name", ROW_FILES)
def test_report_matches_the_expected_one(campaign, name):
    expected = EXPECTED[name]
    report = run_import(campaign, name)
    for key in ("total", "imported", "duplicates", "dnc", "invalid"):
        assert report[key] == expected[key], key
    assert len(report["errors"]) == len(expected["errors"])
    for got, want in zip(report["errors"], expected["errors"], strict=True):
        assert (got["row"], got["column"], got["value"]) == (want["row"], want["column"], want["value"])
        assert want["reason"].lower() in got["reason"].lower()
    assert [(n["row"], n["column"], n["value"], n["reason"]) for n in report["notes"]] == [
        (n["row"], n["column"], n["value"], n["reason"]) for n in expected.get("notes", [])
    ]
    assert CallTask.objects.filter(campaign=campaign).count() == expected["imported"]


@pytest.mark.parametrize("name", ROW_FILES)
def test_dry_run_reports_the_same_and_writes_nothing(campaign, name):
    report = run_import(campaign, name, "--dry-run")
    assert report["imported"] == EXPECTED[name]["imported"]
    assert report["dry_run"] is True
    assert not CallTask.objects.exists()


@pytest.mark.parametrize("name", BAD_FILES)
def test_file_level_problem_is_one_clear_message_and_imports_nothing(campaign, name):
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_contacts", "--campaign", str(campaign.pk), str(FIXTURES / name), "--json", stdout=out)
    assert EXPECTED[name]["file_error"].lower() in str(raised.value).lower()
    assert EXPECTED[name]["file_error"].lower() in json.loads(out.getvalue())["file_error"].lower()
    assert not CallTask.objects.exists()


def test_values_are_normalised_and_extra_columns_become_variables(campaign):
    run_import(campaign, "cp1251_semicolon.csv")
    petr = CallTask.objects.get(phone="+79123450021")
    assert petr.name == "Пётр"
    assert petr.timezones == ["Asia/Yekaterinburg"]
    assert petr.variables == {"комментарий": "VIP клиент"}
    assert CallTask.objects.get(phone="+79123450022").timezones == ["Etc/GMT-7"]  # МСК+4 = UTC+7
    assert CallTask.objects.get(phone="+79123450023").timezones == ["Etc/GMT-3"]
    assert petr.status == CallTask.Status.PENDING and petr.organization_id == campaign.organization_id


def test_time_zones_come_from_the_number_when_there_is_no_column(campaign):
    run_import(campaign, "excel_numbers.csv")
    task = CallTask.objects.get(phone="+79123450044")
    assert task.timezones and all(zone.startswith(("Europe/", "Asia/")) for zone in task.timezones)
    assert task.variables == {"extension": "123"}


def test_xlsx_values_and_dates_survive(campaign):
    run_import(campaign, "contacts.xlsx")
    olga = CallTask.objects.get(phone="+79123450061")
    assert olga.name == "Ольга"
    assert olga.variables == {"услуга": "стрижка", "дата_визита": "2026-12-01"}
    assert CallTask.objects.filter(phone="+79123450062", name="Павел").exists()


def test_duplicates_against_existing_tasks_and_do_not_call_list(campaign, org):
    add_to_do_not_call(org.pk, "+79123450002", reason="asked")
    first = run_import(campaign, "utf8_comma.csv")
    assert (first["imported"], first["dnc"]) == (2, 1)
    second = run_import(campaign, "utf8_comma.csv")
    assert (second["imported"], second["duplicates"], second["dnc"]) == (0, 2, 1)
    assert CallTask.objects.filter(campaign=campaign).count() == 2


def test_another_organizations_do_not_call_list_does_not_apply(campaign, other_org):
    add_to_do_not_call(other_org.pk, "+79123450002")
    assert run_import(campaign, "utf8_comma.csv")["imported"] == 3


def test_adding_to_do_not_call_cancels_pending_tasks_in_every_campaign(campaign, org, skillbase, other_org, skillbase_factory):
    second = Campaign.objects.create(organization=org, name="Autumn", skillbase=skillbase)
    foreign = Campaign.objects.create(organization=other_org, name="Theirs", skillbase=skillbase_factory(other_org))
    run_import(campaign, "utf8_comma.csv")
    run_import(second, "utf8_comma.csv")
    run_import(foreign, "utf8_comma.csv")
    CallTask.objects.filter(campaign=second, phone="+79123450001").update(status=CallTask.Status.COMPLETED)

    _entry, cancelled = add_to_do_not_call(org.pk, "+79123450001", reason="opted out")

    assert cancelled == 1
    statuses = dict(CallTask.objects.filter(phone="+79123450001").values_list("campaign__name", "status"))
    assert statuses == {"Spring": "cancelled", "Autumn": "completed", "Theirs": "pending"}


def test_unknown_campaign_and_missing_file_are_clear_errors(campaign):
    with pytest.raises(CommandError, match="No campaign with id 999999"):
        call_command("import_contacts", "--campaign", "999999", str(FIXTURES / "utf8_comma.csv"))
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_contacts", "--campaign", str(campaign.pk), "/nonexistent.csv")


def test_summary_without_json_names_the_bad_rows(campaign):
    out = io.StringIO()
    call_command("import_contacts", "--campaign", str(campaign.pk), str(FIXTURES / "invalid_numbers.csv"), stdout=out)
    text = out.getvalue()
    assert "6 rows: 1 imported" in text
    assert "row 2, phone = '12345'" in text


def test_size_limit_is_a_file_error(campaign, settings):
    settings.NEWVOICE_IMPORT_MAX_BYTES = 50
    report = run_import_raising(campaign, "utf8_comma.csv")
    assert "limit" in report


def run_import_raising(campaign, name):
    with pytest.raises(CommandError) as raised:
        call_command("import_contacts", "--campaign", str(campaign.pk), str(FIXTURES / name), stdout=io.StringIO())
    return str(raised.value)


def test_unsupported_file_type_is_named(campaign, tmp_path):
    document = tmp_path / "contacts.pdf"
    document.write_bytes(b"%PDF-1.4 phone,name\n+79123450001,Anna\n")
    with pytest.raises(CommandError, match="'contacts.pdf' is not a CSV or XLSX file"):
        call_command("import_contacts", "--campaign", str(campaign.pk), str(document), stdout=io.StringIO())
    assert not CallTask.objects.exists()
