"""A running campaign operated from its page in a real Chromium: where it stands, what it did, what
comes next, its spend, the live monitor, and large controls that ask before they act. Screenshots at
1280 and 1920 px, in English and Russian, go to test-artifacts/screenshots/."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import CallTask, Campaign, Outcome
from skillbases.models import Skillbase
from tests.browser.support import BrowserLiveServerTestCase, operator_of, operator_page, screenshot
from tests.conftest import MINIMAL_CONFIG
from tests.support.calls import conversation, ended_call
from tests.support.engine import add_contacts, make_campaign

pytestmark = pytest.mark.browser
WORDS = {
    "en": {"running": "Running", "pause": "Pause", "resume": "Resume", "cancel": "Cancel campaign", "paused": "Paused",
           "done": "3 of 8 contacts done (38%)"},
    "ru": {"running": "Выполняется", "pause": "Приостановить", "resume": "Возобновить", "cancel": "Отменить кампанию", "paused": "На паузе",
           "done": "3 из 8 контактов завершено (38%)"},
}  # fmt: skip


class CampaignOperationsPageTests(BrowserLiveServerTestCase):
    def setUp(self):
        self.org, self.operator = operator_of("Acme Clinic", "acme")
        skillbase = Skillbase(organization=self.org, name="Reminder", **MINIMAL_CONFIG)
        skillbase.save()
        self.campaign = make_campaign(
            self.org, skillbase, name="Autumn reminders", budget_cap=Decimal("5.00"), default_timezone="Europe/Moscow"
        )
        talk = conversation(("assistant", "Hello"), ("user", "yes"), steps=("greeting", "confirmed"))
        for _ in range(2):
            ended_call(self.campaign, events=talk, last_step="confirmed")
        ended_call(self.campaign, outcome="refusal", events=talk, last_step="declined")
        CallTask.objects.filter(campaign=self.campaign).update(status=CallTask.Status.COMPLETED)
        soon = timezone.now() + dt.timedelta(hours=2)
        add_contacts(self.campaign, 2, first=100, attempts=1, outcome=Outcome.CALLBACK_REQUESTED, next_attempt_at=soon,
                     timezones=["Asia/Yekaterinburg"])  # fmt: skip
        add_contacts(self.campaign, 3, first=200)
        Campaign.objects.filter(pk=self.campaign.pk).update(status=Campaign.Status.RUNNING, spent=Decimal("1.2345"))

    def test_an_operator_runs_the_campaign_from_its_page(self):
        from playwright.sync_api import expect

        for language, width in (("en", 1280), ("ru", 1920), ("en", 1920), ("ru", 1280)):
            Campaign.objects.filter(pk=self.campaign.pk).update(status=Campaign.Status.RUNNING)
            words = WORDS[language]
            name = f"campaign-operations-{language}-{width}"
            with operator_page(name, self.live_server_url, self.operator, language=language, width=width) as page:
                page.goto(f"{self.live_server_url}/admin/campaigns/campaign/{self.campaign.pk}/change/")
                expect(page.locator("#campaign-status")).to_have_text(words["running"])
                expect(page.locator("#ops-progress")).to_contain_text(words["done"])
                expect(page.locator("#ops-outcomes li")).to_have_count(3)  # success, refusal, callback
                expect(page.locator("#ops-upcoming tbody tr")).to_have_count(2)
                expect(page.locator("#ops-upcoming")).to_contain_text("Asia/Yekaterinburg")
                expect(page.locator("#ops-latest tbody tr")).to_have_count(3)
                expect(page.locator("#ops-budget")).to_contain_text("1.2345" if language == "en" else "1,2345")
                expect(page.locator("#campaign-operations .monitor-campaign [data-role=connection]")).not_to_contain_text(
                    "…", timeout=10_000
                )
                # The first fields of the settings are not hidden behind the controls.
                assert page.locator("#id_name").is_visible()
                button = page.locator("#campaign-pause")
                assert button.bounding_box()["height"] >= 36
                screenshot(page, name)
                # Cancelling asks first; saying no leaves it running.
                page.once("dialog", lambda dialog: dialog.dismiss())
                page.locator("#campaign-cancel").click()
                expect(page.locator("#campaign-status")).to_have_text(words["running"])
                page.once("dialog", lambda dialog: dialog.accept())
                button.click()
                expect(page.locator("#campaign-status")).to_have_text(words["paused"])
                expect(page.locator("#campaign-resume")).to_be_visible()
                assert page.js_errors == []
            assert Campaign.objects.get(pk=self.campaign.pk).status == Campaign.Status.PAUSED
