"""A contact file's columns paired with the script's variables: proposed, chosen, checked, previewed.

The salon's script says «хотим пригласить вас на {service}»; a salon's file says «Услуга». The
pairing is proposed from the titles, an operator may change it at every door (admin, API, command)
with the same checks, and a row without a variable the script needs is filled or refused, as chosen.
"""

import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from campaigns.contacts.importing import import_contacts
from campaigns.contacts.mapping import ColumnMapping, MappingError, likeness, parse_mapping, propose
from campaigns.contacts.preview import preview_import
from campaigns.models import CallTask, Campaign, ContactImport

SALON_FILE = (
    "Телефон;ФИО;Услуга;Комментарий\n"
    "+79161234501;Анна Петрова;стрижку;постоянная\n"
    "+79161234502;Мария Иванова;;новая\n"
    "+79161234503;Ольга Смирнова;маникюр;\n"
)


@pytest.fixture
def campaign(org, salon):
    return Campaign.objects.create(organization=org, name="Весна", skillbase=salon, default_region="RU")


def _file(text: str = SALON_FILE) -> io.BytesIO:
    return io.BytesIO(text.encode("utf-8"))


@pytest.mark.parametrize(
    ("headers", "variables", "expected"),
    [
        (["Телефон", "Услуга"], ["service"], {"Услуга": "service"}),
        (["Phone", "Процедура", "Специалист", "Филиал"], ["service", "master", "branch"],
         {"Процедура": "service", "Специалист": "master", "Филиал": "branch"}),
        (["Телефон", "Время записи", "Врач"], ["appointment_time", "doctor"], {"Время записи": "appointment_time", "Врач": "doctor"}),
        (["Телефон", "Дата и время приёма"], ["appointment_at"], {"Дата и время приёма": "appointment_at"}),
        # Transliterated names are the variable's own: «Мастер» is ``master`` before ``stylist``.
        (["Телефон", "Услуга", "Мастер"], ["usluga", "master", "stylist"], {"Услуга": "usluga", "Мастер": "master"}),
        (["Телефон", "Промокод", "Сумма заказа", "Номер заказа"], ["promo_code", "order_total", "order_number"],
         {"Промокод": "promo_code", "Сумма заказа": "order_total", "Номер заказа": "order_number"}),
        (["Phone", "Doctor name", "Appointment Time"], ["doctor", "appointment_time"], {"Doctor name": "doctor"}),
        # Nothing alike: nothing proposed, rather than a wrong guess.
        (["Телефон", "Комментарий", "Город"], ["service", "doctor"], {}),
        # Columns the importer reads for itself are not offered to the script.
        (["Телефон", "ФИО", "Часовой пояс", "Услуга"], ["service"], {"Услуга": "service"}),
    ],
)  # fmt: skip
def test_columns_are_paired_with_the_scripts_variables(headers, variables, expected):
    assert propose(headers, variables) == expected


def test_a_variable_gets_one_column_and_the_surest():
    proposed = propose(["Телефон", "Дата визита", "Дата доставки"], ["visit_date"])
    assert proposed == {"Дата визита": "visit_date"}
    assert likeness("Дата визита", "visit_date") > likeness("Дата доставки", "visit_date")


def test_the_salon_file_imports_its_service_into_the_scripts_variable(campaign):
    report = import_contacts(campaign, _file(), "salon.csv")
    assert report.imported == 3 and not report.file_error
    assert report.columns == {"Телефон": "phone", "ФИО": "name", "Услуга": "service", "Комментарий": "комментарий"}
    assert report.unmapped_variables == [] and report.empty_variables == {"service": 1}
    anna = CallTask.objects.get(phone="+79161234501")
    assert anna.variables == {"service": "стрижку", "комментарий": "постоянная"}


def test_a_script_variable_no_column_holds_is_reported(org, skillbase_factory, minimal_config):
    config = json.loads(json.dumps(minimal_config))
    config["flow"]["steps"][0]["say"] = "Hello {name}, about your {doctor} visit."
    config["flow"]["variables"] = ["doctor"]
    skillbase = skillbase_factory(org, name="Doctor", config=config)
    campaign = Campaign.objects.create(organization=org, name="Clinic", skillbase=skillbase, default_region="RU")
    report = import_contacts(campaign, _file("phone,name\n+79161234501,Ann\n+79161234502,Bob\n"), "c.csv", dry_run=True)
    assert report.unmapped_variables == ["doctor"] and report.empty_variables == {"doctor": 2}


def test_a_row_without_the_variable_is_refused_when_so_chosen(campaign):
    mapping = parse_mapping({"refuse_empty": ["service"]}, variables=["service", "name"])
    report = import_contacts(campaign, _file(), "salon.csv", mapping=mapping)
    assert report.imported == 2 and report.invalid == 1
    (error,) = report.errors
    assert error["row"] == 3 and error["column"] == "Услуга" and "{service}" in error["reason"]
    assert not CallTask.objects.filter(phone="+79161234502").exists()


def test_a_row_without_the_variable_gets_the_chosen_words(campaign):
    mapping = parse_mapping({"fill_empty": {"service": "одну из наших процедур"}}, variables=["service", "name"])
    report = import_contacts(campaign, _file(), "salon.csv", mapping=mapping)
    assert report.imported == 3 and report.empty_variables == {}
    assert CallTask.objects.get(phone="+79161234502").variables["service"] == "одну из наших процедур"


def test_the_operators_choice_overrides_the_proposal(campaign):
    mapping = parse_mapping({"columns": {"Услуга": "", "Комментарий": "service"}}, variables=["service", "name"])
    report = import_contacts(campaign, _file(), "salon.csv", mapping=mapping)
    assert report.columns["Услуга"] == "" and report.columns["Комментарий"] == "service"
    assert CallTask.objects.get(phone="+79161234501").variables == {"service": "постоянная"}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("service", "must be an object"),
        ({"colums": {}}, "Unknown mapping keys: colums"),
        ({"columns": {"Услуга": "услуги"}}, "is not a variable name"),
        ({"columns": {"Услуга": "service", "Комментарий": "service"}}, "are both mapped to “service”"),
        ({"columns": ["Услуга"]}, "“columns” must pair"),
        ({"refuse_empty": ["sevrice"]}, "“sevrice” is not a variable the script uses"),
        ({"refuse_empty": ["service"], "fill_empty": {"service": "x"}}, "cannot both refuse"),
        ({"fill_empty": {"service": " "}}, "Write the words"),
        ({"fill_empty": {"service": "{name}"}}, "leave out “{” and “}”"),
        ({"fill_empty": {"service": "x" * 201}}, "longer than 200"),
    ],
)
def test_a_broken_mapping_names_its_problem(data, problem):
    with pytest.raises(MappingError, match=re.escape(problem)):
        parse_mapping(data, headers=["Телефон", "Услуга", "Комментарий"], variables=["service", "name"])


def test_a_mapping_naming_a_column_the_file_lacks_is_a_file_error(campaign):
    report = import_contacts(campaign, _file(), "salon.csv", mapping=ColumnMapping(columns={"Процедура": "service"}))
    assert "no column «Процедура»" in report.file_error and "«Услуга»" in report.file_error
    assert not CallTask.objects.exists()


def test_the_preview_greets_the_first_rows_as_the_bot_would(campaign):
    preview = preview_import(campaign, _file(), "salon.csv", ColumnMapping())
    assert [row["phone"] for row in preview.rows] == ["+79161234501", "+79161234502", "+79161234503"]
    first, second, _third = preview.rows
    assert first["greeting"].startswith("Здравствуйте, Анна Петрова!") and "пригласить вас на стрижку." in first["greeting"]
    assert first["missing"] == [] and second["missing"] == ["service"]
    # The skillbase's fallback for an empty service is said, not «на.»
    assert "одну из наших процедур" in second["greeting"] and "на." not in second["greeting"]
    assert preview.samples["Услуга"] == ["стрижку", "маникюр"] and preview.empty_in_sample == {"service": 1}


def test_the_api_takes_the_same_mapping_and_refuses_a_broken_one(campaign, operator):
    client = APIClient()
    client.force_authenticate(operator)
    url = f"/api/campaigns/{campaign.pk}/call-list"

    def post(mapping):
        data = {"file": SimpleUploadedFile("salon.csv", SALON_FILE.encode()), "mapping": json.dumps(mapping)}
        return client.post(url, data, format="multipart")

    response = post({"columns": {"Услуга": "service"}, "refuse_empty": ["sevrice"]})
    assert response.status_code == 400 and "“sevrice” is not a variable the script uses" in response.json()["mapping"][0]
    response = post({"columns": {"Процедура": "service"}})
    assert response.status_code == 400 and "no column «Процедура»" in response.json()["detail"]
    assert not CallTask.objects.exists()
    response = post({"fill_empty": {"service": "процедуру"}})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["imported"] == 3 and body["columns"]["Услуга"] == "service" and body["empty_variables"] == {}
    assert CallTask.objects.get(phone="+79161234502").variables["service"] == "процедуру"


def test_the_command_takes_the_same_mapping(campaign, tmp_path):
    path = tmp_path / "salon.csv"
    path.write_text(SALON_FILE, encoding="utf-8")
    with pytest.raises(CommandError, match="is not a variable the script uses"):
        call_command("import_contacts", str(path), campaign=campaign.pk, refuse_empty=["doctor"], stdout=io.StringIO())
    out = io.StringIO()
    call_command("import_contacts", str(path), campaign=campaign.pk, map=["Комментарий=note"], refuse_empty=["service"], stdout=out)
    assert "3 rows: 2 imported" in out.getvalue()
    assert CallTask.objects.get(phone="+79161234501").variables == {"service": "стрижку", "note": "постоянная"}


def _upload(client, campaign, text=SALON_FILE):
    data = {"file": SimpleUploadedFile("salon.csv", text.encode()), "region": ""}
    response = client.post(f"/admin/campaigns/campaign/{campaign.pk}/import-contacts/", data)
    assert response.status_code == 302 and response["Location"].endswith("/mapping/")
    return response["Location"]


def test_the_admin_maps_previews_then_checks_the_whole_file(client, operator, campaign, django_assert_max_num_queries):
    client.force_login(operator)
    campaign.status = Campaign.Status.RUNNING
    campaign.save(update_fields=["status"])
    url = _upload(client, campaign, SALON_FILE.replace("Услуга", "Вид услуги"))
    with django_assert_max_num_queries(15):
        page = client.get(url).content.decode()
    assert 'id="mapping-running"' in page
    assert '<option value="service" selected>{service}</option>' in page  # «Вид услуги» proposed for {service}
    assert "Здравствуйте, Анна Петрова!" in page and "пригласить вас на стрижку" in page
    # The operator leaves the column out: the warning says every greeting goes without it.
    page = client.post(url, {"action": "preview", "column_2": ""}).content.decode()
    assert "No column holds {service}" in page
    assert ContactImport.objects.get().mapping["columns"]["Вид услуги"] == ""
    # ...then maps it back, refuses rows without it, and checks the whole file.
    response = client.post(url, {"action": "run", "column_2": "service", "empty_service": "refuse"})
    assert response.status_code == 302 and "/mapping/" not in response["Location"]
    report = client.get(response["Location"]).content.decode()
    assert "Would be imported" in report and 'id="import-running"' in report and "{service}" in report
    assert not CallTask.objects.exists()
    client.post(response["Location"], {"confirm": "1"})
    assert sorted(CallTask.objects.values_list("variables__service", flat=True)) == ["маникюр", "стрижку"]


def test_the_admin_shows_a_broken_choice_next_to_the_form(client, operator, campaign):
    client.force_login(operator)
    url = _upload(client, campaign)
    page = client.post(url, {"action": "run", "column_2": "service", "column_3": "service"}).content.decode()
    assert 'id="mapping-errors"' in page and "are both mapped to “service”" in page
    assert ContactImport.objects.get().status == ContactImport.Status.MAPPING


def test_a_dry_run_can_go_back_to_the_mapping(client, operator, campaign):
    client.force_login(operator)
    report_url = client.post(_upload(client, campaign), {"action": "run"})["Location"]
    again = client.post(report_url, {"remap": "1"})
    assert again.status_code == 302 and again["Location"].endswith("/mapping/")
    assert client.get(again["Location"]).status_code == 200


def test_another_organizations_mapping_page_is_404(client, operator, outsider, campaign):
    client.force_login(operator)
    url = _upload(client, campaign)
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "run"}).status_code == 404
    assert ContactImport.objects.get().status == ContactImport.Status.MAPPING
