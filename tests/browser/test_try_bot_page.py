"""The admin's "Try this bot" page in a real Chromium, against a live daphne serving HTTP and WebSockets.

BrowserLiveServerTestCase (channels' ChannelsLiveServerTestCase) runs daphne in a forked process on
the file-based test database (SQLite's TEST NAME, or PostgreSQL's test database), so the page, its
static JavaScript and its WebSocket are the production stack; the browser logs in through the real
admin login form. Run only these with `pytest -m browser`, or leave them out with `-m "not browser"`.
"""

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from skillbases.models import Skillbase
from tenancy.models import Membership, Organization, Role
from tests.browser.support import TEST_PASSWORD, BrowserLiveServerTestCase, browser_page, log_in, screenshot

DEMO = Path(__file__).resolve().parents[2] / "newvoice" / "demo"
pytestmark = pytest.mark.browser


def member(organization: Organization, username: str, role: str = Role.OPERATOR):
    user = get_user_model().objects.create_user(username=username, password=TEST_PASSWORD, is_staff=True)
    Membership.objects.create(organization=organization, user=user, role=role)
    return user


class TryBotPageTests(BrowserLiveServerTestCase):
    def setUp(self):
        self.org = Organization.objects.create(name="Acme Salon", slug="acme")
        self.operator = member(self.org, "acme-operator")
        config = json.loads((DEMO / "salon_ru.json").read_text(encoding="utf-8"))
        self.salon = Skillbase(organization=self.org, name="Лилия", **{k: config[k] for k in ("context", "flow", "voice", "llm")})
        self.salon.save()
        self.try_path = f"/admin/skillbases/skillbase/{self.salon.pk}/try/"

    def test_a_conversation_from_greeting_to_opt_out(self):
        from playwright.sync_api import expect

        with browser_page("try-bot-conversation") as page:
            log_in(page, self.live_server_url, self.operator.username)
            page.goto(f"{self.live_server_url}/admin/skillbases/skillbase/{self.salon.pk}/change/")
            page.get_by_role("link", name="Try this bot").click()
            expect(page).to_have_url(f"{self.live_server_url}{self.try_path}")
            expect(page.locator("#say-text")).to_be_disabled()

            page.locator('#contact input[name="name"]').fill("Анна")
            page.locator('#contact input[name="service"]').fill("маникюр")
            page.get_by_role("button", name="Start the call").click()

            bot = page.locator("#transcript .line.bot")
            # The first conversation in the server process imports the agent: allow for it.
            expect(bot.first).to_have_text(re.compile(r"^Здравствуйте, Анна!"), timeout=30_000)
            expect(bot).to_have_count(1)
            expect(bot.first).to_contain_text("маникюр")
            expect(page.locator("#state-step")).to_have_text("greeting")
            expect(page.locator("#state-outcome")).to_have_text("—")

            say, send = page.locator("#say-text"), page.get_by_role("button", name="Send")
            expect(say).to_be_enabled()
            say.fill("да")
            send.click()
            expect(page.locator("#transcript .line.you")).to_have_text(["да"])
            expect(page.locator("#transcript .line.tool")).to_have_count(1)
            expect(page.locator("#transcript .line.tool")).to_have_text(re.compile(r"^goto_step\(.*offer"))
            expect(bot).to_have_count(2)
            expect(bot.nth(1)).to_have_text(re.compile(r"^На этой неделе .*маникюр.*Записать вас\?$"))
            expect(page.locator("#state-step")).to_have_text("offer")
            expect(page.locator("#state-steps")).to_have_text("greeting → offer")
            expect(say).to_have_value("")

            say.fill("не звоните мне больше")
            send.click()
            expect(page.locator("#state-outcome")).to_have_text("opted_out")
            expect(page.locator("#transcript .line.ended")).to_have_text("☎ opted_out")
            expect(say).to_be_disabled()
            expect(send).to_be_disabled()
            expect(page.locator("#transcript .line.you")).to_have_text(["да", "не звоните мне больше"])
            assert page.js_errors == []
            screenshot(page, "try-bot-conversation")

    def test_another_organizations_operator_gets_404(self):
        other = Organization.objects.create(name="Other Clinic", slug="other")
        outsider = member(other, "other-operator")
        with browser_page("try-bot-outsider") as page:
            log_in(page, self.live_server_url, outsider.username)
            response = page.goto(f"{self.live_server_url}{self.try_path}")
            assert response is not None and response.status == 404
            assert page.locator("#try-bot").count() == 0
