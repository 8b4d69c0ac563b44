"""Importing a salon's file into a running campaign in a real Chromium: the column that holds the
script's {service} has a title nothing pairs with it, so the mapping step warns; the operator picks
the column, sees the greeting filled, checks the whole file and imports. Screenshots at 1280 and
1920 px, in English and Russian, go to test-artifacts/screenshots/."""

import json

import pytest

from campaigns.models import CallTask, Campaign
from skillbases.models import Skillbase
from tests.browser.support import BrowserLiveServerTestCase, operator_of, operator_page, screenshot
from tests.conftest import DEMO

pytestmark = pytest.mark.browser

# «Что делаем» holds the service; no title rule pairs it with {service}.
FILE = (
    "Телефон;ФИО;Что делаем;Комментарий\n"
    "8 916 123-45-01;Анна Петрова;стрижку;постоянная\n"
    "+7 916 123 45 02;Мария Иванова;окрашивание;\n"
    "+79161234503;Ольга Смирнова;маникюр;новая\n"
).encode()
WORDS = {
    "en": {"upload": "Check the file", "unmapped": "No column holds {service}", "update": "Update the preview",
           "run": "Check the whole file", "import": "Import 3 contacts", "running": "This campaign is running"},
    "ru": {"upload": "Проверить файл", "unmapped": "Ни один столбец не содержит {service}", "update": "Обновить предпросмотр",
           "run": "Проверить весь файл", "import": "Импортировать контакты: 3", "running": "Эта кампания идёт"},
}  # fmt: skip


class ImportMappingPageTests(BrowserLiveServerTestCase):
    def setUp(self):
        self.org, self.operator = operator_of("Лилия", "lilia")
        config = json.loads((DEMO / "salon_ru.json").read_text(encoding="utf-8"))
        salon = Skillbase(organization=self.org, name="Лилия", **{k: config[k] for k in ("context", "flow", "voice", "llm")})
        salon.save()
        self.campaign = Campaign.objects.create(
            organization=self.org, name="Весна", skillbase=salon, default_region="RU", status=Campaign.Status.RUNNING
        )

    def _import(self, language: str, width: int) -> None:
        from playwright.sync_api import expect

        words = WORDS[language]
        name = f"import-mapping-{language}-{width}"
        with operator_page(name, self.live_server_url, self.operator, language=language, width=width, height=900) as page:
            page.goto(f"{self.live_server_url}/admin/campaigns/campaign/{self.campaign.pk}/import-contacts/")
            page.locator("#id_file").set_input_files(files=[{"name": "клиенты.csv", "mimeType": "text/csv", "buffer": FILE}])
            page.get_by_role("button", name=words["upload"]).click()

            expect(page.locator("#mapping-running")).to_contain_text(words["running"])
            expect(page.locator(".unmapped-variable")).to_contain_text(words["unmapped"])
            greetings = page.locator("#mapping-rows td.greeting")
            expect(greetings).to_have_count(3)
            expect(greetings.first).to_contain_text("Здравствуйте, Анна Петрова!")
            expect(greetings.first).not_to_contain_text("стрижку")  # not paired yet: the fallback is said
            screenshot(page, f"{name}-warning")

            page.get_by_label("Что делаем").select_option(value="service")
            page.get_by_role("button", name=words["update"]).click()
            expect(page.locator(".unmapped-variable")).to_have_count(0)
            expect(greetings.first).to_contain_text("пригласить вас на стрижку")
            expect(page.locator("#mapping-rows tbody tr").first).to_contain_text("+79161234501")
            screenshot(page, f"{name}-mapped")

            page.get_by_role("button", name=words["run"]).click()
            expect(page.locator("#import-running")).to_be_visible()
            confirm = page.get_by_role("button", name=words["import"])
            confirm.click()
            expect(page.locator("#import-totals")).to_be_visible()
            assert page.js_errors == []

    def test_an_operator_maps_a_russian_file_in_english_and_in_russian(self):
        for language, width in (("en", 1280), ("ru", 1920), ("ru", 1280), ("en", 1920)):
            CallTask.objects.all().delete()
            self._import(language, width)
            services = sorted(CallTask.objects.filter(campaign=self.campaign).values_list("variables__service", flat=True))
            assert services == ["маникюр", "окрашивание", "стрижку"], (language, width)
