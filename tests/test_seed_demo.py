"""`manage.py seed_demo`: what it creates, that a second run changes nothing, and how it handles passwords."""

import json
import stat
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from campaigns.models import CallTask, Campaign, DoNotCallEntry
from newvoice.demo.seed import DATA_DIR
from skillbases.models import Skillbase, SkillbaseVersion
from skillbases.schemas import validate_config
from tenancy.models import Membership, Organization, Role

SALON = "Лилия — запись в салон"
DENTAL = "Bright Smile — appointment reminder"
SALON_CAMPAIGN = "Весенняя запись в салон"
DENTAL_CAMPAIGN = "Bright Smile appointment reminders"


@pytest.fixture(autouse=True)
def demo_env(db, settings, tmp_path, monkeypatch):
    # A folder that does not exist yet: the command must create it.
    settings.VAR_DIR = tmp_path / "var"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def credentials_path(settings) -> Path:
    return Path(settings.VAR_DIR) / "demo-credentials.txt"


def saved_passwords(settings) -> dict[str, str]:
    lines = credentials_path(settings).read_text(encoding="utf-8").splitlines()
    return dict(line.split(": ", 1) for line in lines if not line.startswith("#"))


def snapshot() -> dict:
    User = get_user_model()
    return {
        "organizations": list(Organization.objects.values_list("pk", "name", "slug", "timezone")),
        "users": list(User.objects.order_by("pk").values_list("pk", "username", "password", "is_staff", "is_superuser")),
        "memberships": list(Membership.objects.values_list("pk", "organization_id", "user_id", "role")),
        "skillbases": list(Skillbase.objects.order_by("pk").values_list("pk", "name", "version", "updated_at")),
        "versions": list(SkillbaseVersion.objects.order_by("pk").values_list("pk", "skillbase_id", "version")),
        "campaigns": list(Campaign.objects.order_by("pk").values_list("pk", "name", "status", "updated_at")),
        "tasks": list(CallTask.objects.order_by("pk").values_list("pk", "campaign_id", "phone", "updated_at")),
    }


def reachable(config) -> set[str]:
    by_id = {step.id: step for step in config.flow.steps}
    seen, todo = {config.flow.start}, [config.flow.start]
    while todo:
        step = by_id[todo.pop()]
        targets = {t.goto for t in step.transitions}
        if not step.end and config.flow.fallback.step:
            targets.add(config.flow.fallback.step)
        todo += [target for target in targets - seen]
        seen |= targets
    return seen


def goto(config, step_id: str, intent: str):
    step = config.step(step_id)
    return config.step(next(t.goto for t in step.transitions if t.intent == intent))


def test_second_run_changes_nothing():
    first_output = seed()
    before = snapshot()

    second_output = seed()

    assert snapshot() == before
    assert Organization.objects.get().slug == "demo"
    assert get_user_model().objects.filter(username="admin").count() == 1
    assert get_user_model().objects.filter(username="operator").count() == 1
    assert sorted(Skillbase.objects.values_list("name", "version")) == sorted([(SALON, 1), (DENTAL, 1)])
    assert SkillbaseVersion.objects.count() == 2
    assert sorted(Campaign.objects.values_list("name", flat=True)) == sorted([SALON_CAMPAIGN, DENTAL_CAMPAIGN])
    assert CallTask.objects.count() == 40
    assert "8 created, 0 already present" in first_output
    assert "0 created, 8 already present" in second_output
    assert "edited since" not in second_output


def test_organization_and_users():
    seed()

    organization = Organization.objects.get(slug="demo")
    assert (organization.name, organization.timezone) == ("Demo Beauty & Dental", "Europe/Moscow")
    admin = get_user_model().objects.get(username="admin")
    operator = get_user_model().objects.get(username="operator")
    assert admin.is_superuser and admin.is_staff
    assert operator.is_staff and not operator.is_superuser
    assert Membership.objects.get(user=operator).organization == organization
    assert Membership.objects.get(user=operator).role == Role.OPERATOR


def test_skillbases_are_valid_at_version_one():
    seed()

    for skillbase in Skillbase.objects.all():
        validate_config(skillbase.config_dict())
        version = skillbase.versions.get()
        assert (version.version, version.note, version.author.username) == (1, "Demo seed", "admin")
        validate_config(version.config)
    assert Skillbase.objects.get(name=SALON).parsed_config().context.language == "ru-RU"
    assert Skillbase.objects.get(name=DENTAL).parsed_config().context.language == "en-US"


@pytest.mark.parametrize("filename", ["salon_ru.json", "dental_en.json"])
def test_config_files_are_readable_json(filename):
    text = (DATA_DIR / filename).read_text(encoding="utf-8")

    validate_config(json.loads(text))
    assert "\\u04" not in text  # Russian is written as is, not escaped
    assert text.startswith("{\n  ")


def test_demo_phones_are_valid_unique_and_located():
    seed()

    for campaign in Campaign.objects.all():
        phones = list(campaign.tasks.values_list("phone", flat=True))
        assert len(phones) == len(set(phones))
        declared = set(campaign.skillbase.parsed_config().flow.variables)
        for task in campaign.tasks.all():
            number = phonenumbers.parse(task.phone)
            assert phonenumbers.is_valid_number(number), task.phone
            assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == task.phone
            assert phonenumbers.region_code_for_number(number) == campaign.default_region
            assert task.name
            assert declared <= task.variables.keys()
            assert task.timezones and all(ZoneInfo(zone) for zone in task.timezones)
            assert task.status == CallTask.Status.PENDING


def test_campaign_settings():
    seed()

    salon = Campaign.objects.get(name=SALON_CAMPAIGN)
    assert salon.skillbase.name == SALON
    assert salon.status == Campaign.Status.DRAFT
    assert (salon.calls_per_minute, salon.max_concurrent_calls) == (30, 5)
    assert salon.calling_days == [1, 2, 3, 4, 5, 6, 7]
    assert (salon.calling_window_start.hour, salon.calling_window_end.hour) == (0, 23)  # simulated: around the clock
    assert (salon.default_region, salon.default_timezone) == ("RU", "Europe/Moscow")
    assert salon.dialer == "simulator"
    assert salon.simulator_seed == 42
    assert {"agree", "refuse", "callback", "opt_out", "silent", "voicemail", "busy", "no_answer"} <= salon.simulator_personas.keys()
    assert salon.tasks.count() == 30
    assert salon.tasks.filter(variables__service="маникюр").exists()
    assert all(task.timezones == ["Europe/Moscow"] for task in salon.tasks.all())

    dental = Campaign.objects.get(name=DENTAL_CAMPAIGN)
    assert dental.skillbase.name == DENTAL
    assert (dental.status, dental.dialer) == (Campaign.Status.DRAFT, "simulator")
    assert (dental.default_region, dental.default_timezone) == ("US", "America/New_York")
    assert dental.tasks.count() == 10
    for task in dental.tasks.all():
        assert {"appointment_time", "doctor"} <= task.variables.keys()
        assert task.timezones == ["America/New_York"]  # taken from the (geographic) numbers


def test_salon_flow_has_every_branch():
    seed()
    config = Skillbase.objects.get(name=SALON).parsed_config()
    flow = config.flow

    assert reachable(config) == {step.id for step in flow.steps}
    outcomes = {step.outcome for step in flow.steps if step.end}
    assert {"success", "refusal", "callback_requested", "opted_out", "no_response"} <= outcomes
    assert "service" in flow.variables

    # The happy path: greeting -> offer -> pick a time -> booked -> farewell.
    offer = goto(config, "greeting", "yes")
    pick_time = goto(config, offer.id, "yes")
    assert [(field.field, field.type) for field in pick_time.collect] == [("slot", "datetime")]
    booked = goto(config, pick_time.id, "collected")
    assert "Записала вас на {slot}" in booked.say
    assert goto(config, booked.id, "no").outcome == "success"
    assert "{name}" in config.step("greeting").say and "{service}" in config.step("greeting").say

    for step_id in ("greeting", offer.id, pick_time.id):
        assert goto(config, step_id, "opt_out").outcome == "opted_out"
        assert goto(config, step_id, "no").outcome == "refusal"
        callback = goto(config, step_id, "callback")
        assert {goto(config, callback.id, i).outcome for i in ("collected", "callback")} == {"callback_requested"}

    assert flow.fallback.retries == 2
    assert "Повторите" in flow.fallback.reprompt
    assert config.step(flow.fallback.step).outcome == "no_response"
    assert flow.voicemail.action == "leave_message" and "салона" in flow.voicemail.message
    assert {"да", "давайте", "запишите"} <= set(flow.intents["yes"]["ru"])
    assert {"нет", "не надо", "не интересно"} <= set(flow.intents["no"]["ru"])
    assert {"перезвоните", "позже"} <= set(flow.intents["callback"]["ru"])
    assert {"не звоните", "удалите мой номер"} <= set(flow.intents["opt_out"]["ru"])
    assert all("en" in phrases for phrases in flow.intents.values())
    assert config.context.facts and config.context.rules


def test_dental_flow_has_every_branch():
    seed()
    config = Skillbase.objects.get(name=DENTAL).parsed_config()
    flow = config.flow

    assert reachable(config) == {step.id for step in flow.steps}
    assert {"appointment_time", "doctor"} <= set(flow.variables)
    start = config.step(flow.start)
    assert all(f"{{{name}}}" in start.say for name in ("name", "appointment_time", "doctor"))
    assert goto(config, start.id, "yes").outcome == "success"
    pick_new_time = goto(config, start.id, "reschedule")
    assert pick_new_time.collect[0].type == "datetime"
    assert goto(config, pick_new_time.id, "collected").outcome == "success"
    assert goto(config, start.id, "cancel").outcome == "refusal"
    assert goto(config, start.id, "opt_out").outcome == "opted_out"
    assert goto(config, goto(config, start.id, "callback").id, "collected").outcome == "callback_requested"
    assert config.step(flow.fallback.step).outcome == "no_response"
    assert flow.voicemail.action == "leave_message" and "{appointment_time}" in flow.voicemail.message


def test_credentials_file_is_private_and_not_rewritten(settings):
    output = seed()

    path = credentials_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    passwords = saved_passwords(settings)
    assert passwords.keys() == {"admin", "operator"}
    for username, password in passwords.items():
        assert authenticate(username=username, password=password) is not None
        assert password in output
    written = (path.read_bytes(), path.stat().st_mtime_ns)

    output = seed()

    assert (path.read_bytes(), path.stat().st_mtime_ns) == written
    assert all(password in output for password in passwords.values())


def test_demo_password_from_environment(settings, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "spring-demo-2026-Lilia")

    output = seed()

    assert authenticate(username="admin", password="spring-demo-2026-Lilia") is not None
    assert authenticate(username="operator", password="spring-demo-2026-Lilia") is not None
    assert not credentials_path(settings).exists()
    assert "spring-demo-2026-Lilia" not in output
    assert "from DEMO_PASSWORD" in output


def test_weak_demo_password_is_used_with_a_warning(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "demo")

    output = seed()

    assert authenticate(username="admin", password="demo") is not None
    assert "Warning: DEMO_PASSWORD is weak" in output


def test_existing_password_is_kept(settings, monkeypatch):
    seed()
    passwords = saved_passwords(settings)
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("chosen-by-the-owner")
    admin.save()
    monkeypatch.setenv("DEMO_PASSWORD", "another-password-entirely")

    seed()

    assert authenticate(username="admin", password="chosen-by-the-owner") is not None
    assert authenticate(username="operator", password=passwords["operator"]) is not None
    assert authenticate(username="admin", password="another-password-entirely") is None


def test_existing_users_without_credentials_file(settings):
    seed()
    credentials_path(settings).unlink()

    output = seed()

    assert output.count("existing password kept") == 2
    assert not credentials_path(settings).exists()


def test_reset_password(settings, monkeypatch):
    seed()
    old = saved_passwords(settings)

    seed("--reset-password")

    new = saved_passwords(settings)
    assert new["admin"] != old["admin"]
    assert authenticate(username="admin", password=new["admin"]) is not None
    assert authenticate(username="admin", password=old["admin"]) is None

    monkeypatch.setenv("DEMO_PASSWORD", "reset-from-environment-42")
    seed("--reset-password")

    assert authenticate(username="operator", password="reset-from-environment-42") is not None
    assert not credentials_path(settings).exists()  # its passwords were no longer true


def test_edited_skillbase_is_left_alone():
    seed()
    salon = Skillbase.objects.get(name=SALON)
    salon.flow["fallback"]["reprompt"] = "Извините, повторите, пожалуйста."
    salon.save(note="Edited by the owner")

    output = seed()

    salon.refresh_from_db()
    assert (salon.version, salon.versions.count()) == (2, 2)
    assert salon.flow["fallback"]["reprompt"] == "Извините, повторите, пожалуйста."
    assert "edited since" in output


def test_deleted_contacts_return_only_while_draft():
    seed()
    campaign = Campaign.objects.get(name=SALON_CAMPAIGN)
    campaign.tasks.first().delete()

    seed()
    assert campaign.tasks.count() == 30

    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    campaign.tasks.first().delete()
    output = seed()

    assert campaign.tasks.count() == 29
    assert "contacts left as they are" in output


def test_do_not_call_numbers_are_skipped():
    organization = Organization.objects.create(name="Demo Beauty & Dental", slug="demo", timezone="Europe/Moscow")
    DoNotCallEntry.objects.create(organization=organization, phone="+79162998500", source=DoNotCallEntry.Source.OPT_OUT)

    output = seed()

    campaign = Campaign.objects.get(name=SALON_CAMPAIGN)
    assert campaign.tasks.count() == 29
    assert not campaign.tasks.filter(phone="+79162998500").exists()
    assert "1 on the do-not-call list skipped" in output


@pytest.mark.parametrize("audio", [False, True])
def test_the_demo_campaign_starts_in_text_or_by_voice(audio):
    """`make run` starts the demo in text; `DEMO_AUDIO=1 make run` (serve --start-demo --audio) by voice."""
    from newvoice.management.commands.serve import Command

    seed()
    command = Command(stdout=StringIO(), stderr=StringIO())
    command._start_demo(audio=audio)
    campaign = Campaign.objects.filter(organization__slug="demo").order_by("id").first()
    assert campaign.status == Campaign.Status.RUNNING, command.stderr.getvalue()
    assert campaign.simulator_audio is audio
