"""The admin's Live monitor in a real Chromium, against a live daphne serving the page, its static
script and the campaign WebSocket: a transcript line appears as it is said, the counters follow a
call's end. With the in-memory layer (no REDIS_URL) daphne's consumer finds the test's events by
polling the database, as it does for the dialer's and the agent's in the embedded default; with
REDIS_URL they are pushed.
"""

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from campaigns.actions import finish_call
from campaigns.models import Call, CallLog, CallTask, Campaign
from skillbases.models import Skillbase
from tenancy.models import Membership, Organization, Role
from tests.browser.support import TEST_PASSWORD, BrowserLiveServerTestCase, browser_page, log_in, screenshot

DEMO = Path(__file__).resolve().parents[2] / "newvoice" / "demo"
pytestmark = pytest.mark.browser


def member(organization: Organization, username: str, role: str = Role.OPERATOR):
    user = get_user_model().objects.create_user(username=username, password=TEST_PASSWORD, is_staff=True)
    Membership.objects.create(organization=organization, user=user, role=role)
    return user


def beside_the_page(function, *args, **kwargs):
    """Run ORM work while the page is open: Playwright marks an event loop as running in the test's
    thread and Django refuses the ORM there, so it runs in a thread of its own (as the agent would,
    in a process of its own)."""

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def end_call(call: Call, outcome: str) -> None:
    finish_call(call.pk, outcome=outcome)  # the call's end and its call_ended event, together


class LiveMonitorPageTests(BrowserLiveServerTestCase):
    def setUp(self):
        self.org = Organization.objects.create(name="Acme Salon", slug="acme")
        self.operator = member(self.org, "acme-operator")
        config = json.loads((DEMO / "salon_ru.json").read_text(encoding="utf-8"))
        salon = Skillbase(organization=self.org, name="Лилия", **{k: config[k] for k in ("context", "flow", "voice", "llm")})
        salon.save()
        self.campaign = Campaign.objects.create(organization=self.org, name="Весна", skillbase=salon, status=Campaign.Status.RUNNING)
        task = CallTask.objects.create(
            organization=self.org, campaign=self.campaign, phone="+79161234567", name="Анна", status=CallTask.Status.IN_PROGRESS
        )
        self.call = Call.objects.create(
            organization=self.org, campaign=self.campaign, task=task, attempt=1, phone=task.phone, dialer="simulator",
            skillbase_version=salon.current_version, status=Call.Status.IN_PROGRESS,
        )  # fmt: skip
        CallLog.objects.append(self.call, "call_started", data={"mode": "simulated"})
        CallLog.objects.append(self.call, "transcript", role="assistant", text="Здравствуйте, Анна! Это салон «Лилия».")

    def test_transcript_lines_appear_as_they_are_said_and_the_counters_follow_a_call_s_end(self):
        from playwright.sync_api import expect

        with browser_page("live-monitor") as page:
            log_in(page, self.live_server_url, self.operator.username)
            page.goto(f"{self.live_server_url}/admin/campaigns/campaign/{self.campaign.pk}/change/")
            page.get_by_role("link", name="Live monitor").click()
            expect(page).to_have_url(f"{self.live_server_url}/admin/analytics/live/?campaign={self.campaign.pk}")

            section = page.locator(f'section[data-campaign="{self.campaign.pk}"]')
            expect(section.locator('[data-role="connection"]')).to_have_text("Live")
            card = section.locator(f'article.call[data-call="{self.call.pk}"]')
            expect(card.locator(".phone")).to_have_text("+79161234567")
            expect(card.locator(".name")).to_have_text("Анна")
            expect(card.locator(".line.assistant")).to_have_text(["Здравствуйте, Анна! Это салон «Лилия»."])
            expect(section.locator('[data-counter="calls_live"]')).to_have_text("1")
            expect(section.locator('[data-counter="tasks.in_progress"]')).to_have_text("1")
            expect(section.locator('[data-counter="calls_ended"]')).to_have_text("0")

            beside_the_page(CallLog.objects.append, self.call, "transcript", role="user", text="Да, удобно")
            expect(card.locator(".line.user")).to_have_text(["Да, удобно"])
            beside_the_page(CallLog.objects.append, self.call, "transcript", role="assistant", text="Записала вас на четверг.")
            expect(card.locator(".line.assistant")).to_have_count(2)
            screenshot(page, "live-monitor-mid-call")

            beside_the_page(end_call, self.call, "success")
            expect(card.locator(".status")).to_have_text("Success")
            expect(card.locator(".line.call_ended")).to_have_text(re.compile("Success$"))
            expect(section.locator('[data-counter="calls_live"]')).to_have_text("0")
            expect(section.locator('[data-counter="calls_ended"]')).to_have_text("1")
            expect(section.locator('.outcome[data-outcome="success"]')).to_have_text("Success 1")
            expect(section.locator('[data-counter="tasks.done"]')).to_have_text("1")
            expect(section.locator('[data-counter="tasks.in_progress"]')).to_have_text("0")
            assert page.js_errors == []
            screenshot(page, "live-monitor-call-ended")

    def test_every_running_campaign_and_only_the_user_s_own(self):
        from playwright.sync_api import expect

        other = Organization.objects.create(name="Other Clinic", slug="other")
        outsider = member(other, "other-operator")
        with browser_page("live-monitor-all") as page:
            log_in(page, self.live_server_url, self.operator.username)
            page.goto(f"{self.live_server_url}/admin/analytics/live/")
            expect(page.locator("section.monitor-campaign h2 a")).to_have_text(["Весна"])
            expect(page.locator(f'article.call[data-call="{self.call.pk}"]')).to_have_count(1)
            assert page.js_errors == []
        with browser_page("live-monitor-outsider") as page:
            log_in(page, self.live_server_url, outsider.username)
            page.goto(f"{self.live_server_url}/admin/analytics/live/")
            expect(page.locator("#live-monitor")).to_contain_text("No campaign is running.")
            assert page.js_errors == []
            response = page.goto(f"{self.live_server_url}/admin/analytics/live/?campaign={self.campaign.pk}")
            assert response is not None and response.status == 404
