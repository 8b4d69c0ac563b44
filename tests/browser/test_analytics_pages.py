"""The analytics pages in a real Chromium against a live daphne: a call's conversation with its
metrics and cost, and the dashboard's charts. Screenshots go to test-artifacts/screenshots/."""

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone

from analytics.models import CallMetrics
from analytics.price_list import seed_list_prices
from analytics.templatetags.analytics_format import money
from campaigns.models import CallLog
from skillbases.models import Skillbase
from tenancy.models import Membership, Organization, Role
from tests.browser.support import TEST_PASSWORD, BrowserLiveServerTestCase, browser_page, log_in, screenshot
from tests.conftest import MINIMAL_CONFIG
from tests.support.calls import conversation, ended_call
from tests.support.engine import make_campaign

pytestmark = pytest.mark.browser

USAGE = [
    {"type": "stt_usage", "provider": "openai", "model": "gpt-4o-mini-transcribe", "audio_duration": 30.0},
    {"type": "tts_usage", "provider": "openai", "model": "gpt-4o-mini-tts", "characters_count": 400, "audio_duration": 40.0},
]
TALK = [
    ("step", "", "", {"step": "greeting"}),
    ("transcript", "assistant", "Hello Ann, this is Test Clinic.", {"interrupted": False, "latency_ms": 1150.0, "greeting": True}),
    ("transcript", "user", "Hi, yes?", {"interrupted": False}),
    ("transcript", "assistant", "Can you come tomorrow", {"interrupted": True, "latency_ms": 640.0}),
    ("interruption", "assistant", "Can you come tomorrow", {"heard": "Can you come tomorrow", "full": "Can you come tomorrow at five?"}),
    ("transcript", "user", "Yes, sure, that works great", {"interrupted": False}),
    ("tool_call", "", "", {"tool": "goto_step", "step": "confirmed", "result": "Say: Great, see you then."}),
    ("step", "", "", {"step": "confirmed"}),
    ("transcript", "assistant", "Great, see you then.", {"interrupted": False, "latency_ms": 880.0}),
]


def skillbase(organization: Organization, name: str) -> Skillbase:
    bot = Skillbase(organization=organization, name=name, **MINIMAL_CONFIG)
    bot.save()
    return bot


class AnalyticsPagesTests(BrowserLiveServerTestCase):
    def setUp(self):
        seed_list_prices()  # the live server's tests flush the tables, the migration's rows with them
        self.org = Organization.objects.create(name="Acme Salon", slug="acme")
        self.viewer = get_user_model().objects.create_user(username="acme-viewer", password=TEST_PASSWORD, is_staff=True)
        Membership.objects.create(organization=self.org, user=self.viewer, role=Role.VIEWER)
        self.campaign = make_campaign(self.org, skillbase(self.org, "Reminder"), name="Autumn reminders")
        self.call = ended_call(self.campaign, events=TALK, usage=USAGE, talk_seconds=75.0, last_step="confirmed")
        CallLog.objects.filter(call=self.call).update(offset_ms=F("seq") * 2350)  # seconds apart, as on a live call

    def a_month_of_calls(self) -> None:
        second = make_campaign(self.org, skillbase(self.org, "Offers"), name="Winter offers")
        noon = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time(12)))
        outcomes = ["success", "refusal", "callback_requested", "no_answer", "busy", "success", "voicemail"]
        for day in range(12):
            for i, outcome in enumerate(outcomes[: 2 + day % 5]):
                answered = outcome not in ("no_answer", "busy")
                lines = [("assistant", "Hello"), ("user", "Yes"), ("assistant", "Good")] if answered else []
                ended_call(
                    second if i % 2 else self.campaign,
                    outcome=outcome,
                    events=conversation(*lines, latency_ms=400 + 90 * ((day * 7 + i * 3) % 13), steps=("greeting", "offer")[: 1 + i % 2]),
                    usage=USAGE if answered else None,
                    talk_seconds=40.0 + day if answered else None,
                    ended_at=noon - dt.timedelta(days=day),
                )

    def test_the_call_page_reads_as_a_conversation_with_its_metrics_and_cost(self):
        from playwright.sync_api import expect

        metrics = CallMetrics.objects.get(call=self.call)
        with browser_page("call-conversation") as page:
            log_in(page, self.live_server_url, self.viewer.username)
            page.goto(f"{self.live_server_url}/admin/campaigns/call/{self.call.pk}/change/")
            page.get_by_role("link", name="Conversation and metrics").click()
            expect(page).to_have_url(re.compile(rf"/admin/campaigns/call/{self.call.pk}/conversation/$"))

            bubbles = page.locator("#transcript .line")
            expect(bubbles).to_have_count(5)
            expect(page.locator("#transcript .line.bot .text")).to_have_text(
                ["Hello Ann, this is Test Clinic.", "Can you come tomorrow at five?", "Great, see you then."]
            )
            expect(page.locator("#transcript .line.callee .text")).to_have_text(["Hi, yes?", "Yes, sure, that works great"])
            # Bot on the left, callee on the right.
            bot, callee = bubbles.nth(0).bounding_box(), bubbles.nth(1).bounding_box()
            assert callee["x"] > bot["x"] and callee["width"] > 0

            interrupted = page.locator("#transcript .line.interrupted")
            expect(interrupted.locator(".unheard")).to_have_text("at five?")
            assert "line-through" in interrupted.locator(".unheard").evaluate("e => getComputedStyle(e).textDecorationLine")
            expect(interrupted.locator(".interruption-marker")).to_contain_text("Interrupted by the callee")
            expect(interrupted.locator(".latency")).to_have_text("answered in 640 ms")
            expect(page.locator("#transcript .step-change strong")).to_have_text(["greeting", "confirmed"])
            # Tool calls are the bot's internals: behind a toggle.
            expect(page.locator("#transcript .tool-call")).to_be_hidden()
            page.locator("#show-internals").check()
            expect(page.locator("#transcript .tool-call code")).to_have_text("⚙ goto_step(step=confirmed)")

            expect(page.locator(".figures .turns")).to_have_text(str(metrics.turns))
            expect(page.locator(".figures.latency td").first).to_have_text("1,150 ms")
            expect(page.locator(".figures .cost-total")).to_have_text(f"{money(metrics.cost_total)} USD")
            assert page.js_errors == []
            screenshot(page, "call-conversation")

    def test_the_dashboard_draws_its_charts_and_follows_the_campaign_selector(self):
        from playwright.sync_api import expect

        self.a_month_of_calls()
        total = CallMetrics.objects.filter(organization=self.org).count()
        ours = CallMetrics.objects.filter(campaign=self.campaign).count()
        outcomes = CallMetrics.objects.values("outcome").distinct().count()
        with browser_page("analytics-dashboard") as page:
            log_in(page, self.live_server_url, self.viewer.username)
            page.locator("#content-main .app-analytics").get_by_role("link", name="Dashboard").click()
            expect(page).to_have_url(re.compile(r"/admin/analytics/dashboard/$"))
            expect(page.locator("#total-calls")).to_have_text(str(total))

            charts = page.locator("svg.chart")
            expect(charts).to_have_count(4)
            for name in ("calls-per-day", "cost-per-day", "latency-histogram", "step-funnel"):
                chart = page.locator(f"svg.chart.{name}")
                box = chart.bounding_box()
                assert box["width"] > 300 and box["height"] > 50, name
                bars = chart.locator("rect.bar")
                assert bars.count() > 0, name
                sizes = bars.evaluate_all("rects => rects.map(r => { const b = r.getBoundingClientRect(); return [b.width, b.height]; })")
                assert all(width > 0 and height > 0 for width, height in sizes), (name, sizes)
            calls_drawn = page.locator("svg.chart.calls-per-day rect.bar").evaluate_all(
                "rects => rects.reduce((sum, r) => sum + Number(r.dataset.value), 0)"
            )
            assert calls_drawn == total
            expect(page.locator(".legend li")).to_have_count(outcomes)
            screenshot(page, "analytics-dashboard")

            page.get_by_label("Campaign").select_option(label="Autumn reminders")
            page.get_by_role("button", name="Show").click()
            expect(page.locator("#total-calls")).to_have_text(str(ours))
            expect(page.locator(".by-campaign")).to_have_count(0)
            assert page.js_errors == []
            screenshot(page, "analytics-dashboard-campaign")

    def test_unpriced_calls_stand_out_in_the_metrics_list(self):
        from playwright.sync_api import expect

        config = {**MINIMAL_CONFIG, "voice": {"stt_provider": "deepgram", "stt_model": "nova-1-legacy"}}
        legacy = Skillbase(organization=self.org, name="Legacy voice", **config)
        legacy.save()
        unpriced = ended_call(make_campaign(self.org, legacy, name="Legacy"), events=conversation(("assistant", "Hello")), usage=USAGE)
        reason = CallMetrics.objects.get(call=unpriced).unpriced_reason
        with browser_page("call-metrics-unpriced") as page:
            log_in(page, self.live_server_url, self.viewer.username)
            page.goto(f"{self.live_server_url}/admin/analytics/callmetrics/")
            badges = page.locator("#result_list .unpriced")
            expect(badges).to_have_count(1)
            expect(badges).to_have_text("unpriced")
            expect(badges).to_have_attribute("title", reason)
            assert badges.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"  # the stylesheet is served
            expect(page.locator("#result_list tbody tr")).to_have_count(2)
            page.set_viewport_size({"width": 1920, "height": 900})  # every column of the list in the picture
            screenshot(page, "call-metrics-unpriced")
            page.set_viewport_size({"width": 1280, "height": 900})

            page.locator("#result_list .unpriced").locator("xpath=ancestor::tr").get_by_role("link", name="Conversation").click()
            expect(page.locator(".figures .cost-total .unpriced")).to_have_text("unpriced")
            expect(page.locator(".unpriced-reason")).to_contain_text(reason)
            assert page.js_errors == []
            screenshot(page, "call-conversation-unpriced")
