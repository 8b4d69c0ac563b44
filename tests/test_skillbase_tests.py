"""A skillbase's test conversations: validated at every door, run on every saved version by the
background worker's task (the production agent in text mode), shown on the version in the admin and
the API, and holding back a campaign whose version fails them unless an admin overrides, audited."""

import json
from pathlib import Path

import pytest
from django.urls import reverse
from django_q.models import OrmQ
from rest_framework.test import APIClient

from skillbases.config_errors import ConfigError
from skillbases.models import Skillbase, SkillbaseTest, SkillbaseTestRun
from skillbases.tasks import failing_tests, replace_tests, run_tests, run_tests_now
from skillbases.testing import validate_test, validate_tests
from tenancy.models import AuditEntry
from tests.support.engine import make_campaign, use_scripted_dialer

DEMO = Path(__file__).resolve().parent.parent / "newvoice" / "demo"
ANNA = {"name": "Анна", "service": "маникюр"}
BOOKS = {
    "name": "Books tomorrow",
    "lines": ["Да", "Да", "Завтра в 15:00", "Нет"],
    "variables": ANNA,
    "at": "2026-12-07 11:00",
    "expect": {"outcome": "success", "collected": {"slot": "2026-12-08T15:00"}, "reached": ["booked"], "says": ["Записала вас"]},
}


@pytest.fixture(autouse=True)
def scripted_line(settings):
    use_scripted_dialer(settings)


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def add_test(skillbase, spec=BOOKS, position=0):
    data = {k: v for k, v in spec.items() if k != "name"}
    row = SkillbaseTest(organization=skillbase.organization, skillbase=skillbase, name=spec["name"], position=position, spec=data)
    row.full_clean()
    row.save()
    return row


def messages(exc) -> list[str]:
    return [str(issue) for issue in exc.value.issues]


# What a test may say


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"lines": []}, "lines: "),
        ({"at": "tomorrow"}, "at: 'tomorrow' is not a moment: write it as YYYY-MM-DD HH:MM"),
        ({"at": "2026-02-30 10:00"}, "is not a real date and time"),
        ({"timezone": "Mars/Base"}, "timezone: 'Mars/Base' is not a time zone"),
        ({"expect": {"outcome": "booked"}}, "expect.outcome: Unknown outcome 'booked'"),
        ({"expect": {"reached": ["bokked"]}}, "expect.reached[0]: There is no step 'bokked'; the steps are: greeting,"),
        (
            {"expect": {"collected": {"time": ""}}},
            "expect.collected.time: The script collects no field 'time'; it collects: slot, callback_at",
        ),
        ({"expect": {"reached": ["booked"], "avoided": ["booked"]}}, "Step 'booked' cannot be both reached and avoided."),
        ({"variables": {"surname": "Иванова"}}, "variables.surname: The script uses no variable 'surname'"),
        ({"expect": {"outcomes": "success"}}, "expect.outcomes"),
    ],
)
def test_a_test_that_does_not_fit_the_script_is_refused_by_its_path(salon, change, fragment):
    with pytest.raises(ConfigError) as exc:
        validate_test({**BOOKS, **change}, salon.parsed_config())
    assert any(fragment in message for message in messages(exc)), messages(exc)


def test_a_list_of_tests_names_each_problem_by_its_index(salon):
    with pytest.raises(ConfigError) as exc:
        validate_tests([BOOKS, {**BOOKS, "expect": {"avoided": ["nowhere"]}}, BOOKS], salon.parsed_config())
    steps = ", ".join(s.id for s in salon.parsed_config().flow.steps)
    assert messages(exc) == [
        f"[1].expect.avoided[0]: There is no step 'nowhere'; the steps are: {steps}.",
        "[2].name: Another test is already named 'Books tomorrow'.",
    ]
    with pytest.raises(ConfigError, match="must be a JSON list"):
        validate_tests({"name": "x"})


# Running and judging


def test_a_passing_test_and_each_way_a_test_fails(salon):
    add_test(salon)
    wrong = {
        "name": "Everything wrong",
        "lines": ["Да", "Да", "Завтра в 15:00", "Нет"],
        "variables": ANNA,
        "at": "2026-12-07 11:00",
        "expect": {
            "outcome": "refusal",
            "collected": {"slot": "2026-12-08T16:00"},
            "not_collected": ["callback_at"],
            "reached": ["callback_when"],
            "avoided": ["booked"],
            "says": ["Перезвоню"],
            "never_says": ["Записала вас"],
        },
    }
    add_test(salon, wrong, position=1)
    run = run_tests_now(salon.current_version)
    assert (run.status, run.total, run.failed) == (SkillbaseTestRun.Status.FAILED, 2, 1)
    passing, failing = run.results
    assert passing["passed"] and passing["failures"] == [] and passing["outcome"] == "success"
    assert passing["steps"] == ["greeting", "offer", "pick_time", "booked", "farewell"]
    assert passing["transcript"][0]["role"] == "bot" and passing["transcript"][1] == {"role": "callee", "text": "Да"}
    assert failing["failures"] == [
        "The outcome was success, not refusal.",
        "'slot' was '2026-12-08T15:00:00+03:00', not '2026-12-08T16:00'.",
        "Step 'callback_when' was never reached (steps: greeting > offer > pick_time > booked > farewell).",
        "Step 'booked' was reached though it should not be.",
        "The bot never said “Перезвоню”.",
        "The bot said “Записала вас”, which it must not.",
    ]
    problems = failing_tests(salon.current_version)
    assert problems[0] == "1 of 2 test conversations of version 1 fail."
    assert problems[1].startswith("Test 'Everything wrong' fails: The outcome was success, not refusal.")


def test_the_moment_of_a_test_makes_it_deterministic(salon):
    """ "Tomorrow" is the day after the test's own moment, whatever day it runs."""
    add_test(salon, {**BOOKS, "at": "2027-03-01 10:00", "expect": {"collected": {"slot": "2027-03-02T15:00:00+03:00"}}})
    assert run_tests_now(salon.current_version).status == SkillbaseTestRun.Status.PASSED


@pytest.mark.parametrize(("filename", "count"), [("salon_ru.json", 11), ("dental_en.json", 9)])
def test_the_demo_skillbases_ship_tests_that_pass(org, filename, count):
    config = json.loads((DEMO / filename).read_text(encoding="utf-8"))
    skillbase = Skillbase(organization=org, name=filename, **config)
    skillbase.save()
    replace_tests(skillbase, validate_tests(json.loads((DEMO / filename.replace(".json", ".tests.json")).read_text(encoding="utf-8"))))
    run = run_tests_now(skillbase.current_version)
    assert [r["name"] for r in run.results if not r["passed"]] == [] and run.total == count, [r["failures"] for r in run.results]


def test_a_test_that_no_longer_fits_a_version_is_an_error_not_a_pass(salon):
    add_test(salon, {**BOOKS, "expect": {"avoided": ["price_info"]}})
    salon.flow["steps"] = [s for s in salon.flow["steps"] if s["id"] != "price_info"]
    for step in salon.flow["steps"]:
        step["transitions"] = [t for t in step.get("transitions", []) if t["goto"] != "price_info"]
    salon.save()
    run = run_tests_now(salon.current_version)
    assert run.status == SkillbaseTestRun.Status.ERROR and "There is no step 'price_info'" in run.error
    assert failing_tests(salon.current_version)[0].startswith("The test conversations of version 2 could not run: a test no longer fits")


# On every saved version, by the worker


@pytest.mark.django_db(transaction=True)
def test_every_saved_version_hands_its_tests_to_the_worker(org):
    config = json.loads((DEMO / "salon_ru.json").read_text(encoding="utf-8"))
    salon = Skillbase(organization=org, name="Лилия", **config)
    salon.save()
    add_test(salon)
    add_test(salon, {**BOOKS, "name": "Second"}, position=1)
    # One run per version, however many tests changed before the worker took it.
    runs = list(SkillbaseTestRun.objects.filter(version__skillbase=salon))
    assert [(r.version.version, r.status) for r in runs] == [(1, "queued")]
    queued = [task.task for task in OrmQ.objects.all()]
    assert [(t["func"], t["args"]) for t in queued] == [("skillbases.tasks.run_tests", (runs[0].pk,))]

    run_tests(runs[0].pk)  # what the worker does with it
    runs[0].refresh_from_db()
    assert (runs[0].status, runs[0].total, runs[0].failed) == ("passed", 2, 0) and runs[0].finished_at
    run_tests(runs[0].pk)  # delivered twice: the second is a no-op
    assert SkillbaseTestRun.objects.get(pk=runs[0].pk).results == runs[0].results

    salon.flow["steps"][3]["say"] = "На какое время записать?"  # pick_time
    salon.save()
    assert salon.version == 2 and salon.current_version.latest_test_run().status == "queued"
    assert OrmQ.objects.count() == 2


# Starting a campaign


def test_a_campaign_on_a_failing_version_is_refused_until_an_admin_overrides(org, salon, operator, org_admin):
    add_test(salon, {**BOOKS, "expect": {"outcome": "refusal"}})
    campaign = make_campaign(org, salon, contacts=2, variables=ANNA)
    problems = campaign.start(user=operator)
    assert problems == [
        "1 of 1 test conversations of version 1 fail.",
        "Test 'Books tomorrow' fails: The outcome was success, not refusal.",
    ]
    campaign.refresh_from_db()
    assert campaign.status == "draft"

    refused = campaign.start(user=operator, override_tests=True)
    assert refused[0] == "Only an admin of the organization may start a campaign whose test conversations fail."
    assert campaign.status == "draft" and not AuditEntry.objects.filter(action=AuditEntry.Action.TESTS_OVERRIDDEN).exists()

    assert campaign.start(user=org_admin, override_tests=True) == []
    campaign.refresh_from_db()
    assert campaign.status == "running"
    entry = AuditEntry.objects.get(action=AuditEntry.Action.TESTS_OVERRIDDEN)
    assert entry.actor == org_admin and entry.after["version"] == 1
    assert entry.after["failures"][1] == "Test 'Books tomorrow' fails: The outcome was success, not refusal."


def test_a_version_not_yet_tested_is_tested_when_a_campaign_starts(org, salon, operator):
    add_test(salon)
    assert salon.current_version.latest_test_run().status == "queued"  # no worker has taken it
    campaign = make_campaign(org, salon, contacts=1, variables=ANNA)
    assert campaign.start(user=operator) == []
    run = salon.current_version.latest_test_run()
    assert (run.status, run.total) == ("passed", 1)
    assert SkillbaseTestRun.objects.filter(version=salon.current_version).count() == 1  # the queued run was taken, not doubled


# The API


def test_the_api_reads_replaces_and_runs_tests(org, salon, operator, viewer, outsider):
    url = f"/api/skillbases/{salon.pk}/tests/"
    assert api(viewer).get(url).json() == []
    assert api(viewer).put(url, [BOOKS], format="json").status_code == 403
    assert api(outsider).get(url).status_code == 404

    bad = [BOOKS, {**BOOKS, "name": "Bad", "expect": {"reached": ["nowhere"]}}]
    response = api(operator).put(url, bad, format="json")
    assert response.status_code == 400
    assert response.json()["tests"][0].startswith("[1].expect.reached[0]: There is no step 'nowhere'")
    assert not salon.tests.exists()  # nothing half-written

    response = api(operator).put(url, [BOOKS], format="json")
    assert response.status_code == 200 and response.json()[0]["name"] == "Books tomorrow"
    assert api(viewer).get(url).json()[0]["expect"]["collected"] == {"slot": "2026-12-08T15:00"}

    ran = api(operator).post(f"/api/skillbases/{salon.pk}/run-tests/")
    assert ran.status_code == 200
    assert (ran.json()["status"], ran.json()["version"], ran.json()["results"][0]["passed"]) == ("passed", 1, True)
    versions = api(viewer).get(f"/api/skillbases/{salon.pk}/versions/").json()["results"]
    assert versions[0]["tests"]["status"] == "passed" and versions[0]["tests"]["results"][0]["name"] == "Books tomorrow"


def test_the_api_start_takes_the_override(org, salon, operator, org_admin):
    add_test(salon, {**BOOKS, "expect": {"outcome": "refusal"}})
    campaign = make_campaign(org, salon, contacts=1, variables=ANNA)
    url = f"/api/campaigns/{campaign.pk}/start/"
    refused = api(operator).post(url, {}, format="json")
    assert refused.status_code == 409 and "Test 'Books tomorrow' fails" in refused.json()["problems"][1]
    assert api(org_admin).post(url, {"override_failing_tests": "maybe"}, format="json").status_code == 400
    assert api(operator).post(url, {"override_failing_tests": True}, format="json").status_code == 409
    started = api(org_admin).post(url, {"override_failing_tests": True}, format="json")
    assert started.status_code == 200 and started.json()["status"] == "running"


# The admin


def test_the_admin_writes_a_test_without_json_and_shows_the_results(client, org, salon, operator, org_admin):
    client.force_login(operator)
    url = reverse("admin:skillbases_skillbase_change", args=[salon.pk])
    page = client.get(url)
    assert page.status_code == 200 and "Test conversations (run on every saved version)" in page.content.decode()
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) for name in form.fields}
    data = {k: json.dumps(v) if isinstance(v, dict) else ("" if v is None else v) for k, v in data.items()}
    data["organization"] = org.pk
    for formset in page.context["inline_admin_formsets"]:
        prefix = formset.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    prefix = "tests"
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-0-name": "Silent callee",
            f"{prefix}-0-position": "0",
            f"{prefix}-0-lines": "...\n...\n...",
            f"{prefix}-0-variables": "name = Анна\nservice = маникюр",
            f"{prefix}-0-outcome": "no_response",
            f"{prefix}-0-avoided": "pick_time, booked",
            f"{prefix}-0-never_says": "Записала",
        }
    )
    bad = client.post(url, {**data, f"{prefix}-0-avoided": "pick_tme"})
    assert bad.status_code == 200 and "There is no step &#x27;pick_tme&#x27;" in bad.content.decode()
    assert not salon.tests.exists()
    saved = client.post(url, data)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    test = salon.tests.get()
    assert test.spec["lines"] == ["", "", ""] and test.spec["expect"]["avoided"] == ["pick_time", "booked"]
    assert test.spec["variables"] == ANNA

    run = run_tests_now(salon.current_version)
    assert run.status == "passed"
    version_page = client.get(reverse("admin:skillbases_skillbaseversion_change", args=[salon.current_version.pk])).content.decode()
    assert "1 of 1 passed" in version_page and "Silent callee" in version_page and "no_response" in version_page

    campaign = make_campaign(org, salon, contacts=1, variables=ANNA)
    campaign_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    assert 'id="campaign-override-tests"' not in client.get(campaign_url).content.decode()  # passing: nothing to override
    replace_tests(salon, validate_tests([{**BOOKS, "expect": {"outcome": "refusal"}}]))
    run_tests_now(salon.current_version)
    assert 'id="campaign-override-tests"' not in client.get(campaign_url).content.decode()  # an operator may not
    client.force_login(org_admin)
    assert 'id="campaign-override-tests"' in client.get(campaign_url).content.decode()
    client.post(reverse("admin:campaigns_campaign_control", args=[campaign.pk, "start"]), {"override_tests": "1"})
    campaign.refresh_from_db()
    assert campaign.status == "running" and AuditEntry.objects.filter(action=AuditEntry.Action.TESTS_OVERRIDDEN, actor=org_admin).exists()
