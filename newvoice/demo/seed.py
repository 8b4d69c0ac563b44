"""Load the demo: an organization, two users, two skillbases and two draft campaigns.

Idempotent: every row is looked up by its natural key (organization slug, username, skillbase and
campaign name, a task's phone) and whatever exists is left alone, so an operator's edits survive
the next ``make run``, which seeds every time.

Like ``newvoice.urls`` this is project wiring rather than part of the ``newvoice`` app, which is
why it may import the apps above it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management import CommandError
from django.db import transaction
from phonenumbers import timezone as number_timezone

from campaigns.models import CallTask, Campaign, DoNotCallEntry
from skillbases.models import Skillbase, SkillbaseTest
from skillbases.schemas import SECTIONS, ConfigError, validate_config
from skillbases.tasks import failing_tests
from skillbases.testing import validate_tests
from tenancy.models import Membership, Organization, Role

DATA_DIR = Path(__file__).resolve().parent
CREDENTIALS_FILE = "demo-credentials.txt"
PASSWORD_ENV = "DEMO_PASSWORD"
SEED_NOTE = "Demo seed"

ORGANIZATION = {"slug": "demo", "name": "Demo Beauty & Dental", "timezone": "Europe/Moscow"}


@dataclass(frozen=True)
class DemoUser:
    username: str
    description: str
    superuser: bool = False
    first_name: str = ""
    last_name: str = ""


ADMIN = DemoUser("admin", "superuser, sees every organization", superuser=True)
OPERATOR = DemoUser("operator", "operator of the demo organization", first_name="Ольга", last_name="Смирнова")

SKILLBASES = {
    "salon": {
        "name": "Лилия — запись в салон",
        "description": "Демо: приглашает постоянных клиентов салона на услугу и записывает на удобное время. "
        "Переменная service — услуга в винительном падеже («маникюр», «стрижку»).",
        "file": "salon_ru.json",
    },
    "dental": {
        "name": "Bright Smile — appointment reminder",
        "description": "Demo: reminds a patient of an appointment and lets them confirm, reschedule or cancel it.",
        "file": "dental_en.json",
    },
}

# A realistic answer mix for the simulator dialer, as weights.
SALON_PERSONAS = {
    "agree": 40,
    "refuse": 20,
    "callback": 10,
    "opt_out": 5,
    "silent": 5,
    "interrupt": 5,
    "voicemail": 10,
    "busy": 3,
    "no_answer": 2,
}
DENTAL_PERSONAS = {
    "agree": 50,
    "refuse": 10,
    "callback": 10,
    "opt_out": 3,
    "silent": 5,
    "interrupt": 5,
    "voicemail": 12,
    "busy": 3,
    "no_answer": 2,
}

CAMPAIGNS = (
    {
        "name": "Весенняя запись в салон",
        "skillbase": "salon",
        "contacts": "salon_contacts_ru.csv",
        "settings": {
            "calls_per_minute": 30,
            "max_concurrent_calls": 5,
            # Simulated callees never sleep: the demo calls around the clock, so `make run` shows
            # calls at any hour. The dental campaign keeps a real clinic's hours.
            "calling_days": [1, 2, 3, 4, 5, 6, 7],
            "calling_window_start": dt.time(0, 0),
            "calling_window_end": dt.time(23, 59, 59),
            "default_region": "RU",
            "default_timezone": "Europe/Moscow",
            # The demo numbers may belong to real people: even where the installation's dialer is
            # LiveKit, the demo campaigns only ever reach the simulator.
            "dialer": "simulator",
            "simulator_personas": SALON_PERSONAS,
            "simulator_seed": 42,
        },
    },
    {
        "name": "Bright Smile appointment reminders",
        "skillbase": "dental",
        "contacts": "dental_contacts_en.csv",
        "settings": {
            "calls_per_minute": 10,
            "max_concurrent_calls": 3,
            "calling_days": [1, 2, 3, 4, 5, 6],
            "calling_window_start": dt.time(9, 0),
            "calling_window_end": dt.time(20, 0),
            "default_region": "US",
            "default_timezone": "America/New_York",
            "dialer": "simulator",
            "simulator_personas": DENTAL_PERSONAS,
            "simulator_seed": 7,
        },
    },
)


@dataclass
class Login:
    username: str
    description: str
    password: str | None  # None when the password is not known to the seed
    note: str = ""


@dataclass
class SeedReport:
    credentials_file: Path
    rows: list[tuple[str, str, bool]] = field(default_factory=list)  # (what, status, created)
    logins: list[Login] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, what: str, status: str, *, created: bool = False) -> None:
        self.rows.append((what, status, created))


@dataclass
class Contact:
    phone: str
    name: str
    timezones: list[str]
    variables: dict[str, str]


@transaction.atomic
def seed_demo(*, reset_password: bool = False) -> SeedReport:
    report = SeedReport(credentials_file=Path(settings.VAR_DIR) / CREDENTIALS_FILE)
    organization = _seed_organization(report)
    admin, operator, remembered = _seed_users(organization, report, reset_password=reset_password)
    skillbases = {key: _seed_skillbase(organization, admin, spec, report) for key, spec in SKILLBASES.items()}
    for spec in CAMPAIGNS:
        _seed_campaign(organization, operator, skillbases[spec["skillbase"]], spec, report)
    # Written last, inside the transaction: if writing fails, no user is left with a password nobody knows.
    if remembered != read_credentials(report.credentials_file):
        write_credentials(report.credentials_file, remembered)
    return report


def _seed_organization(report: SeedReport) -> Organization:
    organization, created = Organization.objects.get_or_create(
        slug=ORGANIZATION["slug"], defaults={"name": ORGANIZATION["name"], "timezone": ORGANIZATION["timezone"]}
    )
    report.add(f'Organization "{organization.name}" ({organization.slug})', "created" if created else "already present", created=created)
    return organization


# Users and their passwords


def _seed_users(organization: Organization, report: SeedReport, *, reset_password: bool) -> tuple[Any, Any, dict[str, str]]:
    """The admin and the operator, and the passwords the credentials file should hold afterwards."""
    env_password = os.environ.get(PASSWORD_ENV, "")
    remembered = read_credentials(report.credentials_file)
    users = []
    for spec in (ADMIN, OPERATOR):
        user, status, password = _ensure_user(spec, env_password=env_password, reset=reset_password)
        report.add(f"User {spec.username}", status, created=status == "created")
        report.logins.append(_login(spec, password, remembered, from_env=bool(env_password)))
        users.append(user)
    admin, operator = users
    if env_password and any(login.note == f"from {PASSWORD_ENV}" for login in report.logins):
        report.warnings.extend(_weakness(env_password))
    _, created = Membership.objects.get_or_create(organization=organization, user=operator, defaults={"role": Role.OPERATOR})
    report.add(f"Membership of {operator.username} in {organization.slug}", "created" if created else "already present", created=created)
    if not admin.is_superuser:
        report.warnings.append(f"The existing user '{admin.username}' is not a superuser; it was left as it is.")
    if not operator.is_staff:
        report.warnings.append(f"The existing user '{operator.username}' is not staff and cannot sign in to the admin.")
    return admin, operator, remembered


def _ensure_user(spec: DemoUser, *, env_password: str, reset: bool) -> tuple[Any, str, str | None]:
    """(user, status, the password set now or None). An existing password is kept unless ``reset``."""
    User = get_user_model()
    user = User.objects.filter(username=spec.username).first()
    if user is None:
        password = env_password or new_password()
        email = f"{spec.username}@example.com"
        if spec.superuser:
            user = User.objects.create_superuser(spec.username, email, password)
        else:
            extra = {"first_name": spec.first_name, "last_name": spec.last_name}
            user = User.objects.create_user(spec.username, email, password, is_staff=True, **extra)
        return user, "created", password
    if reset:
        password = env_password or new_password()
        user.set_password(password)
        user.save(update_fields=["password"])
        return user, "password reset", password
    return user, "already present", None


def _login(spec: DemoUser, password: str | None, remembered: dict[str, str], *, from_env: bool) -> Login:
    """What to tell about ``spec``'s password; updates ``remembered`` (the credentials file's entries)."""
    if password is None:
        if spec.username in remembered:
            return Login(spec.username, spec.description, remembered[spec.username], note=f"from {CREDENTIALS_FILE}")
        return Login(spec.username, spec.description, None, note="existing password kept")
    if from_env:
        # The operator chose this password; it need not be written down, and an older entry is stale.
        remembered.pop(spec.username, None)
        return Login(spec.username, spec.description, None, note=f"from {PASSWORD_ENV}")
    remembered[spec.username] = password
    return Login(spec.username, spec.description, password, note="new")


def new_password() -> str:
    return secrets.token_urlsafe(12)


def _weakness(password: str) -> list[str]:
    try:
        password_validation.validate_password(password)
    except ValidationError as exc:
        return [f"{PASSWORD_ENV} is weak: {' '.join(exc.messages)}"]
    return []


def read_credentials(path: Path) -> dict[str, str]:
    """``username: password`` lines of the credentials file; {} when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    entries = {}
    for line in text.splitlines():
        username, sep, password = line.partition(": ")
        if sep and not line.startswith("#"):
            entries[username.strip()] = password.strip()
    return entries


def write_credentials(path: Path, entries: dict[str, str]) -> None:
    if not entries:
        path.unlink(missing_ok=True)
        return
    lines = [
        "# NEW-VOICE demo sign-in, written by `manage.py seed_demo`.",
        "# Change these passwords in the admin (or run `seed_demo --reset-password`), then delete this file.",
        *(f"{username}: {password}" for username, password in entries.items()),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    # Created 0600 from the start (never briefly readable by others), then swapped in atomically.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    os.replace(temporary, path)


# Skillbases


def load_config(filename: str) -> dict[str, Any]:
    """A demo skillbase config file, validated."""
    data = json.loads((DATA_DIR / filename).read_text(encoding="utf-8"))
    try:
        validate_config(data)
    except ConfigError as exc:
        raise CommandError(f"{filename} is not a valid skillbase configuration: {exc}") from None
    return data


def _normalised(config: dict[str, Any]) -> dict[str, Any]:
    parsed = validate_config(config)
    return {section: getattr(parsed, section).model_dump(mode="json") for section in SECTIONS}


def _seed_skillbase(organization: Organization, author, spec: dict[str, str], report: SeedReport) -> Skillbase:
    config = load_config(spec["file"])
    what = f'Skillbase "{spec["name"]}"'
    skillbase = Skillbase.objects.filter(organization=organization, name=spec["name"]).first()
    if skillbase is None:
        with transaction.atomic():
            skillbase = Skillbase(organization=organization, name=spec["name"], description=spec["description"], **config)
            skillbase.save(author=author, note=SEED_NOTE)
            tests = _seed_tests(skillbase, spec["file"])
        version = skillbase.current_version
        failing_tests(version)  # run them now: the demo campaigns start at once
        report.add(
            what, f"created, version {skillbase.version}; {tests} test conversations, {version.latest_test_run().summary()}", created=True
        )
    elif skillbase.config_dict() != _normalised(config):
        report.add(what, f"already present, version {skillbase.version}; edited since, so {spec['file']} was not applied")
    else:
        report.add(what, f"already present, version {skillbase.version}")
    return skillbase


def _seed_tests(skillbase: Skillbase, filename: str) -> int:
    """The test conversations the demo ships beside its configuration (``salon_ru.tests.json``)."""
    path = DATA_DIR / filename.replace(".json", ".tests.json")
    items = json.loads(path.read_text(encoding="utf-8"))
    try:
        tests = validate_tests(items, skillbase.parsed_config())
    except ConfigError as exc:
        raise CommandError(f"{path.name} does not fit its skillbase: {exc}") from None
    for position, test in enumerate(tests):
        spec = test.model_dump(mode="json", exclude={"name"})
        row = SkillbaseTest(organization=skillbase.organization, skillbase=skillbase, name=test.name, position=position, spec=spec)
        row.full_clean()
        row.save()
    return len(tests)


# Campaigns and their contacts


def _seed_campaign(organization: Organization, creator, skillbase: Skillbase, spec: dict[str, Any], report: SeedReport) -> Campaign:
    what = f'Campaign "{spec["name"]}"'
    # Campaign names are not unique: an operator may have copied one, so take the oldest.
    campaign = Campaign.objects.filter(organization=organization, name=spec["name"]).order_by("pk").first()
    created = campaign is None
    if created:
        campaign = Campaign(organization=organization, name=spec["name"], skillbase=skillbase, created_by=creator, **spec["settings"])
        campaign.full_clean()
        campaign.save()
    status = "created" if created else "already present"
    if campaign.status != Campaign.Status.DRAFT:
        # Once it has run, contacts deleted since are deliberate; do not bring them back.
        report.add(what, f"{status}, {campaign.get_status_display().lower()}; contacts left as they are", created=created)
        return campaign
    added, blocked = _add_contacts(campaign, spec["contacts"])
    report.warnings.extend(_missing_variables(campaign))
    status += f", {campaign.tasks.count()} contacts ({added} added"
    status += f", {blocked} on the do-not-call list skipped)" if blocked else ")"
    report.add(what, status, created=created)
    return campaign


def _add_contacts(campaign: Campaign, filename: str) -> tuple[int, int]:
    """Create the file's contacts the campaign lacks; (added, skipped as do-not-call)."""
    contacts = load_contacts(filename, region=campaign.default_region, default_timezone=campaign.default_timezone)
    phones = [contact.phone for contact in contacts]
    present = set(campaign.tasks.filter(phone__in=phones).values_list("phone", flat=True))
    blocked = set(DoNotCallEntry.objects.filter(organization_id=campaign.organization_id, phone__in=phones).values_list("phone", flat=True))
    new = [
        CallTask(
            organization_id=campaign.organization_id,
            campaign=campaign,
            phone=contact.phone,
            name=contact.name,
            variables=contact.variables,
            timezones=contact.timezones,
        )
        for contact in contacts
        if contact.phone not in present | blocked
    ]
    CallTask.objects.bulk_create(new)
    return len(new), len(blocked - present)


def load_contacts(filename: str, *, region: str, default_timezone: str) -> list[Contact]:
    """The demo CSV's rows: ``phone``, ``name``, optional ``timezone``; other columns become template variables."""
    with (DATA_DIR / filename).open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    contacts: list[Contact] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        phone = to_e164(row.pop("phone", "") or "", region)
        if phone is None or phone in seen:
            raise CommandError(f"{filename}, line {line}: the phone number is invalid or repeated.")
        seen.add(phone)
        name = (row.pop("name", "") or "").strip()
        zones = contact_timezones(phone, (row.pop("timezone", "") or "").strip(), default_timezone)
        variables = {key: value.strip() for key, value in row.items() if key and value and value.strip()}
        contacts.append(Contact(phone=phone, name=name, timezones=zones, variables=variables))
    return contacts


def to_e164(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def contact_timezones(phone: str, given: str, default: str) -> list[str]:
    """The contact's zones: the CSV's own when given, else the number's, else the campaign default.

    A Russian mobile number maps to all sixteen zones the country's numbers may be in, and a call
    waits until the window is open in every one of them (about two hours a day), so the salon CSV
    names its clients' zone, as the salon knows it.
    """
    if given:
        try:
            ZoneInfo(given)
        except (ZoneInfoNotFoundError, ValueError):
            raise CommandError(f"Unknown time zone '{given}' for {phone}.") from None
        return [given]
    zones = number_timezone.time_zones_for_number(phonenumbers.parse(phone))
    return [zone for zone in zones if zone != number_timezone.UNKNOWN_TIMEZONE] or [default]


def _missing_variables(campaign: Campaign) -> list[str]:
    """Contacts lacking a variable the script declares (possible once an operator edits the script)."""
    declared = set(campaign.skillbase.parsed_config().flow.variables)
    return [
        f'Campaign "{campaign.name}": {task.phone} has no {", ".join(sorted(missing))}, which the script uses.'
        for task in campaign.tasks.only("phone", "variables")
        if (missing := declared - task.variables.keys())
    ]
