"""Contact files as CRMs export them: several phone columns and several numbers in a cell (the best,
a mobile first, is dialled and the others kept for later attempts), a title above the header, the
contacts on another sheet, Cyrillic text late in a file, a workbook with a wrong size in it, and
time zones as people write them."""

import io
import re
import zipfile

import pytest
from openpyxl import Workbook

from campaigns.actions import add_to_do_not_call, finish_call
from campaigns.contacts.dnc import import_do_not_call
from campaigns.contacts.importing import import_contacts
from campaigns.contacts.normalising import GENERAL, HOME, MOBILE, WORK, phone_kind
from campaigns.models import Call, CallTask, Outcome
from tests.support.engine import T0, Dispatcher, make_campaign, started, use_scripted_dialer

MOSCOW_OFFICE = "+74951234567"


def imported(campaign, text: str, name: str = "contacts.csv", encoding: str = "utf-8"):
    report = import_contacts(campaign, io.BytesIO(text.encode(encoding)), name)
    assert report.file_error == "", report.file_error
    return report, {task.name: task for task in CallTask.objects.filter(campaign=campaign)}


@pytest.mark.parametrize(
    ("header", "kind"),
    [("Мобильный телефон", MOBILE), ("Моб.", MOBILE), ("Mobile Phone Number", MOBILE), ("Сот. тел.", MOBILE),
     ("Рабочий телефон", WORK), ("Business Phone", WORK), ("Рабочий", WORK), ("Домашний телефон", HOME), ("Другой телефон", HOME),
     ("Home Phone", HOME), ("Phone Number", GENERAL), ("Phone 1 - Value", GENERAL), ("Контактный номер", GENERAL), ("Тел.", GENERAL),
     ("Номер телефона", GENERAL), ("Phone 1 - Type", None), ("Business Fax", None), ("Номер заказа", None), ("Номер клиента", None),
     ("Тип телефона", None), ("E-mail", None), ("Город", None)],
)  # fmt: skip
def test_phone_columns_are_recognised_by_kind(header, kind):
    assert phone_kind(header) == kind


def test_a_bitrix24_export_dials_the_mobile_and_keeps_the_landline(org, skillbase):
    campaign = make_campaign(org, skillbase)
    text = (
        "Имя;Фамилия;Рабочий телефон;Мобильный телефон;Домашний телефон;Другой телефон;E-mail\n"
        f"Анна;Смирнова;{MOSCOW_OFFICE};+7 916 111-22-33;+7 (495) 765-43-21;;anna@example.ru\n"
        f"Борис;Петров;+7 495 222 33 44;;;;boris@example.ru\n"
        "Вера;Козлова;;;;8 (916) 333-44-55;\n"
    )
    report, tasks = imported(campaign, text)
    assert (report.imported, report.invalid, report.with_other_numbers) == (3, 0, 1)
    anna = tasks["Анна Смирнова"]
    assert anna.phone == "+79161112233" and anna.other_phones == ["+74957654321", MOSCOW_OFFICE]  # home before the shared office
    assert tasks["Борис Петров"].phone == "+74952223344" and tasks["Борис Петров"].other_phones == []
    assert tasks["Вера Козлова"].phone == "+79163334455"
    [note] = report.notes
    assert (note["row"], note["column"], note["value"]) == (2, "Мобильный телефон", "+79161112233")
    assert f"{MOSCOW_OFFICE} (Рабочий телефон)" in note["reason"] and "+74957654321 (Домашний телефон)" in note["reason"]


def test_hubspot_colleagues_sharing_the_office_line_are_each_called_on_their_mobile(org, skillbase):
    campaign = make_campaign(org, skillbase)
    text = (
        "First Name,Last Name,Phone Number,Mobile Phone Number\n"
        f"Olga,Ivanova,{MOSCOW_OFFICE},+79161000001\n"
        f"Pavel,Orlov,{MOSCOW_OFFICE},+79161000002\n"
        f"Reception,,{MOSCOW_OFFICE},\n"
    )
    report, tasks = imported(campaign, text)
    assert (report.imported, report.duplicates) == (3, 0)
    assert tasks["Olga Ivanova"].phone == "+79161000001" and tasks["Olga Ivanova"].other_phones == [MOSCOW_OFFICE]
    assert tasks["Pavel Orlov"].phone == "+79161000002"
    assert tasks["Reception"].phone == MOSCOW_OFFICE


@pytest.mark.parametrize("separator", [", ", " ::: ", "; ", " / "])
def test_several_numbers_in_one_cell_are_all_kept(org, skillbase, separator):
    campaign = make_campaign(org, skillbase)
    text = f'Name,Phone 1 - Type,Phone 1 - Value\nGleb,Work,"{MOSCOW_OFFICE}{separator}8 916 444 55 66"\n'
    report, tasks = imported(campaign, text)
    assert report.imported == 1 and report.invalid == 0
    assert tasks["Gleb"].phone == "+79164445566" and tasks["Gleb"].other_phones == [MOSCOW_OFFICE]


def test_a_cell_with_one_good_number_and_junk_keeps_the_number_and_says_what_was_not_used(org, skillbase):
    campaign = make_campaign(org, skillbase)
    report, tasks = imported(campaign, 'name,phone\nDina,"+79165556677, звонить после 18"\n')
    assert tasks["Dina"].phone == "+79165556677" and report.invalid == 0
    assert [(n["value"], n["reason"].startswith("Not used:")) for n in report.notes] == [("звонить после 18", True)]


def test_a_row_with_no_good_number_in_any_column_is_refused_naming_its_first_problem(org, skillbase):
    campaign = make_campaign(org, skillbase)
    report, _tasks = imported(campaign, "name,work phone,mobile\nEgor,12,\nFaina,,\n")
    assert report.invalid == 2
    assert (report.errors[0]["column"], report.errors[0]["value"]) == ("work phone", "12")
    assert report.errors[1]["reason"] == "The phone number is empty."


def test_a_contact_any_of_whose_numbers_is_on_the_do_not_call_list_is_not_imported(org, skillbase):
    campaign = make_campaign(org, skillbase)
    add_to_do_not_call(org.pk, MOSCOW_OFFICE)
    report, tasks = imported(campaign, f"name,mobile,work phone\nIgor,+79167778899,{MOSCOW_OFFICE}\nKira,+79167778800,\n")
    assert report.dnc == 1 and list(tasks) == ["Kira"]
    assert report.errors[0]["value"] == MOSCOW_OFFICE
    assert (report.notes, report.with_other_numbers) == ([], 0)  # what was made of a skipped row is not reported


def test_a_do_not_call_file_blocks_every_number_of_a_row(org):
    report = import_do_not_call(org.pk, io.BytesIO(f"Мобильный;Рабочий\n+79167778899;{MOSCOW_OFFICE}\n".encode()), "dnc.csv", region="RU")
    assert report.added == 2


def test_the_next_attempt_after_no_answer_dials_the_contact_s_next_number(org, skillbase, settings, django_capture_on_commit_callbacks):
    use_scripted_dialer(settings)
    campaign = make_campaign(org, skillbase, max_attempts=3)
    imported(campaign, f"name,mobile,work phone\nLev,+79169990011,{MOSCOW_OFFICE}\n")
    started(campaign)
    dispatch = Dispatcher(django_capture_on_commit_callbacks)
    (first,) = dispatch(T0)
    assert Call.objects.get(pk=first).phone == "+79169990011"
    finish_call(first, outcome=Outcome.NO_ANSWER)
    task = CallTask.objects.get(campaign=campaign)
    assert task.status == CallTask.Status.PENDING and task.number_to_dial == MOSCOW_OFFICE
    CallTask.objects.filter(pk=task.pk).update(next_attempt_at=T0)
    (second,) = dispatch(T0 + campaign_retry_gap())
    assert Call.objects.get(pk=second).phone == MOSCOW_OFFICE
    finish_call(second, outcome=Outcome.INVALID_NUMBER)  # that number is gone: back to the first, straight away
    task.refresh_from_db()
    assert task.status == CallTask.Status.PENDING and task.number_to_dial == "+79169990011"
    # An answered call keeps the number that answered.
    CallTask.objects.filter(pk=task.pk).update(next_attempt_at=T0)
    (third,) = dispatch(T0 + 2 * campaign_retry_gap())
    finish_call(third, outcome=Outcome.SUCCESS)
    task.refresh_from_db()
    assert task.status == CallTask.Status.COMPLETED and task.number_to_dial == "+79169990011"


def campaign_retry_gap():
    import datetime as dt

    return dt.timedelta(hours=6)


def test_a_number_added_to_the_list_later_stops_the_contact_whichever_number_is_next(
    org, skillbase, settings, django_capture_on_commit_callbacks
):
    use_scripted_dialer(settings)
    campaign = make_campaign(org, skillbase)
    imported(campaign, f"name,mobile,work phone\nMila,+79169990022,{MOSCOW_OFFICE}\n")
    add_to_do_not_call(org.pk, MOSCOW_OFFICE)
    started(campaign)
    assert Dispatcher(django_capture_on_commit_callbacks)(T0) == []
    assert CallTask.objects.get(campaign=campaign).status == CallTask.Status.CANCELLED


def test_a_title_above_the_header_is_skipped(org, skillbase):
    campaign = make_campaign(org, skillbase)
    text = "Выгрузка контактов от 01.12.2026\n\nФИО;Телефон;Услуга\nНина Орлова;+79161112200;Стрижка\n"
    report, tasks = imported(campaign, text)
    assert report.imported == 1 and tasks["Нина Орлова"].variables == {"услуга": "Стрижка"}


def workbook_bytes(sheets: dict[str, list[list]]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_the_contacts_sheet_is_found_when_the_first_has_no_phone_column(org, skillbase):
    campaign = make_campaign(org, skillbase)
    data = workbook_bytes(
        {
            "Сводка": [["Всего контактов", 2], ["Менеджер", "Ольга"]],
            "Контакты": [["Имя", "Телефон"], ["Оля", "+79161112201"], ["Петя", "+79161112202"]],
        }
    )
    report = import_contacts(campaign, io.BytesIO(data), "export.xlsx")
    assert (report.file_error, report.imported, report.sheet) == ("", 2, "Контакты")


def test_a_workbook_with_no_phone_column_on_any_sheet_names_the_first_sheet_s_columns(org, skillbase):
    campaign = make_campaign(org, skillbase)
    data = workbook_bytes({"A": [["Имя", "Город"], ["Оля", "Тула"]], "B": [["Итого"]]})
    report = import_contacts(campaign, io.BytesIO(data), "export.xlsx")
    assert "No phone column found" in report.file_error and "'Город'" in report.file_error


def test_a_wrong_dimension_in_a_workbook_does_not_cut_the_list(org, skillbase):
    campaign = make_campaign(org, skillbase)
    data = workbook_bytes({"Contacts": [["name", "phone"], *[[f"C{n}", f"+7916555{n:04d}"] for n in range(300)]]})
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            body = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                body, replaced = re.subn(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:B2"', body)
                assert replaced == 1
            target.writestr(item, body)
    report = import_contacts(campaign, io.BytesIO(out.getvalue()), "export.xlsx")
    assert (report.file_error, report.imported) == ("", 300)


def test_cyrillic_text_after_the_first_64_kb_of_a_windows_1251_file_is_read(org, skillbase):
    campaign = make_campaign(org, skillbase)
    lines = ["phone;name"] + [f"+7916{n:07d};Contact {n}" for n in range(4000)] + ["+79169999999;Снежана Ёлкина"]
    text = "\n".join(lines) + "\n"
    assert len(text.encode("cp1251")) > 64 * 1024
    report, tasks = imported(campaign, text, encoding="cp1251")
    assert report.imported == 4001 and "Снежана Ёлкина" in tasks


@pytest.mark.parametrize(
    ("zone", "expected", "noted"),
    [("МСК", ["Europe/Moscow"], False), ("Москва", ["Europe/Moscow"], False), ("UTC+5:30", ["Asia/Yekaterinburg"], True),
     ("где-то на Урале", ["Asia/Yekaterinburg"], True)],
)  # fmt: skip
def test_a_time_zone_cell_that_cannot_be_read_falls_back_to_the_number_s_zone(org, skillbase, zone, expected, noted):
    campaign = make_campaign(org, skillbase)
    report, tasks = imported(campaign, f"name,phone,часовой пояс\nUral,+73432000000,{zone}\n")
    assert report.imported == 1 and tasks["Ural"].timezones == expected
    assert bool(report.notes) is noted
    if noted:
        assert "The number's own time zone is used." in report.notes[0]["reason"]
