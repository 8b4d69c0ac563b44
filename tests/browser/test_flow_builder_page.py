"""The flow builder in a real Chromium: an operator builds a three-step skillbase without touching
JSON, sees it as a graph, runs a simulated campaign on it and sees on the graph how many calls took
each arrow. Screenshots at 1280 and 1920 px, in English and Russian, go to test-artifacts/screenshots/."""

import multiprocessing
import os
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections

from campaigns.models import Call, CallTask
from skillbases.models import Skillbase
from skillbases.schemas import validate_config
from tests.browser.support import BrowserLiveServerTestCase, operator_of, operator_page, screenshot
from tests.support.engine import add_contacts, make_campaign

pytestmark = pytest.mark.browser
SAVE = {"en": "Save and continue editing", "ru": "Сохранить и продолжить редактирование"}
ADD_STEP = {"en": "Add a step", "ru": "Добавить шаг"}


class FlowBuilderPageTests(BrowserLiveServerTestCase):
    def setUp(self):
        self.org, self.operator = operator_of("Лилия", "lilia")

    def _build(self, page, language: str, name: str) -> None:
        from playwright.sync_api import expect

        page.goto(f"{self.live_server_url}/admin/skillbases/skillbase/add/")
        page.locator("#id_organization").select_option(label="Лилия")
        page.locator("#id_name").fill(name)
        expect(page.locator("fieldset.json-editor")).to_be_hidden()  # the builder is the editor
        page.locator("[name=ctx-company]").fill("Лилия")
        page.locator("[name=ctx-role]").fill("администратор салона")
        page.locator("[name=ctx-goal]").fill("подтвердить запись на завтра")
        page.locator("[name=ctx-language]").fill("ru-RU")
        page.locator("[name=ctx-facts]").fill("Салон на Тверской, 12.\nРаботаем с 9 до 21.")
        # The page comes with one blank step: two more with the button.
        page.get_by_role("button", name=ADD_STEP[language]).click()
        page.get_by_role("button", name=ADD_STEP[language]).click()
        steps = page.locator(".builder-step")
        expect(steps).to_have_count(3)
        first, second, third = (steps.nth(i) for i in range(3))
        first.locator(".step-id").fill("greeting")
        say = first.locator(".step-say")
        say.fill("Здравствуйте, ! Ждём вас завтра в салоне. Придёте?")
        say.evaluate("box => { box.focus(); box.selectionStart = box.selectionEnd = 'Здравствуйте, '.length; }")
        first.locator(".chip", has_text="{name}").click()  # the variable goes where the cursor is
        expect(say).to_have_value("Здравствуйте, {name}! Ждём вас завтра в салоне. Придёте?")
        second.locator(".step-id").fill("confirmed")
        second.locator(".step-id").dispatch_event("change")
        second.locator(".step-end").check()
        second.locator("select[name$=-outcome]").select_option("success")
        second.locator(".step-say").fill("Отлично, до встречи!")
        third.locator(".step-id").fill("declined")
        third.locator(".step-id").dispatch_event("change")
        third.locator(".step-end").check()
        third.locator("select[name$=-outcome]").select_option("refusal")
        third.locator(".step-say").fill("Хорошо, до свидания.")
        expect(second.locator(".step-transitions")).to_be_hidden()  # an end step has no transitions
        # Transitions: intent → step, from lists that already know the new steps.
        first.locator("select[name$=-t-0-intent]").select_option("yes")
        first.locator("select[name$=-t-0-goto]").select_option("confirmed")
        first.locator("select[name$=-t-1-intent]").select_option("no")
        first.locator("select[name$=-t-1-goto]").select_option("declined")
        page.locator("select[name=flow-start]").select_option("greeting")
        expect(page.locator(".llm-only").first).to_be_hidden()  # no model under the offline engine

    def _run_calls(self, skillbase: Skillbase) -> int:
        campaign = make_campaign(
            self.org, skillbase, name="Завтра", dialer="simulator", simulator_personas={"agree": 2, "refuse": 1}, max_attempts=1
        )
        add_contacts(campaign, 6)
        # In a child process: a process that has run livekit's sessions forks broken ones, and every
        # later live server is forked from this one.
        connections.close_all()
        child = multiprocessing.get_context("fork").Process(target=_run_campaign, args=(campaign.pk,))
        child.start()
        child.join(300)
        assert child.exitcode == 0, "the simulated campaign did not run to its end"
        return campaign.pk

    def test_an_operator_builds_a_three_step_skillbase_runs_it_and_sees_the_calls_on_its_graph(self):
        from playwright.sync_api import expect

        for language, width in (("en", 1280), ("ru", 1920)):
            name = f"Напоминание {language}"
            shot = f"flow-builder-{language}-{width}"
            with operator_page(shot, self.live_server_url, self.operator, language=language, width=width) as page:
                self._build(page, language, name)
                screenshot(page, f"{shot}-filled")
                page.get_by_role("button", name=SAVE[language], exact=True).click()
                expect(page.locator("ul.messagelist li.success")).to_be_visible()
                graph = page.locator("#flow-graph svg.flow-graph")
                expect(graph.locator("g.flow-step")).to_have_count(3)
                expect(graph.locator("g.flow-arrow")).to_have_count(2)
                expect(graph.locator("g.problem")).to_have_count(0)
                # Saved as one version; the builder shows it back, plus a blank step.
                expect(page.locator(".builder-step")).to_have_count(4)
                screenshot(page, f"{shot}-saved")
                assert page.js_errors == []

            skillbase = Skillbase.objects.get(name=name)
            config = validate_config(skillbase.config_dict())
            assert skillbase.version == 1 and [s.id for s in config.flow.steps] == ["greeting", "confirmed", "declined"]
            assert config.llm.provider == "flow" and config.context.facts == ["Салон на Тверской, 12.", "Работаем с 9 до 21."]
            campaign = self._run_calls(skillbase)
            outcomes = sorted(Call.objects.filter(campaign_id=campaign).values_list("outcome", flat=True))
            assert len(outcomes) == 6 and set(outcomes) <= {"success", "refusal"}, outcomes
            assert CallTask.objects.filter(campaign_id=campaign, status=CallTask.Status.PENDING).count() == 0

            with operator_page(f"{shot}-calls", self.live_server_url, self.operator, language=language, width=width) as page:
                page.goto(f"{self.live_server_url}/admin/analytics/flow/?campaign={campaign}")
                arrows = page.locator("#flow-calls g.flow-arrow")
                expect(arrows).to_have_count(2)
                taken = {a.get_attribute("data-to"): int(a.get_attribute("data-calls")) for a in arrows.all()}
                assert taken == {"confirmed": outcomes.count("success"), "declined": outcomes.count("refusal")}
                expect(page.locator("#flow-calls g.flow-step[data-step=greeting]")).to_contain_text(re.compile("6"))
                screenshot(page, f"{shot}-calls")
                assert page.js_errors == []

    def test_the_builder_page_reads_well_in_both_languages_and_widths(self):
        from playwright.sync_api import expect

        salon = Skillbase.objects.create(organization=self.org, name="Лилия", **_demo("salon_ru"))
        for language, width in (("en", 1920), ("ru", 1280)):
            with operator_page(
                f"flow-builder-salon-{language}-{width}", self.live_server_url, self.operator, language=language, width=width
            ) as page:
                page.goto(f"{self.live_server_url}/admin/skillbases/skillbase/{salon.pk}/change/")
                expect(page.locator(".builder-step")).to_have_count(len(salon.flow["steps"]) + 1)
                expect(page.locator("#flow-graph g.flow-step")).to_have_count(len(salon.flow["steps"]))
                screenshot(page, f"flow-builder-salon-{language}-{width}")
                # The JSON stays, as the advanced editor.
                page.locator("input[name=editor][value=json]").check()
                expect(page.locator("fieldset.json-editor")).to_be_visible()
                expect(page.locator("#flow-builder")).to_be_hidden()
                assert page.js_errors == []


def _run_campaign(campaign_id: int) -> None:
    try:
        call_command("campaign", "run", str(campaign_id), "--speed", "0", stdout=StringIO())
        connections.close_all()
    except BaseException:
        os._exit(1)
    os._exit(0)


def _demo(name: str) -> dict:
    import json

    from tests.conftest import DEMO

    config = json.loads((DEMO / f"{name}.json").read_text(encoding="utf-8"))
    return {k: config[k] for k in ("context", "flow", "voice", "llm")}
