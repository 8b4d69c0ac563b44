""" "Try this bot" by voice in a real Chromium: its fake microphone plays a WAV file (Chromium's
``--use-file-for-fake-audio-capture``) into the page, which streams it over the authenticated
WebSocket to the agent's real voice pipeline on the live daphne server; the bot's audio comes back
and is played by the page, the transcript beside it."""

import json
import re
import tempfile
import wave
from pathlib import Path

import pytest

from skillbases.models import Skillbase
from tenancy.models import Organization
from tests.browser.support import BrowserLiveServerTestCase, browser_page, log_in, screenshot
from tests.browser.test_try_bot_page import member
from tests.test_voice_calls import require_local_speech

DEMO = Path(__file__).resolve().parents[2] / "newvoice" / "demo"
pytestmark = [pytest.mark.browser, pytest.mark.voice, pytest.mark.voice_call]


def microphone_wav(path: Path, text: str, *, after: float, then: float) -> Path:
    """``after`` seconds of silence, ``text`` said by the local English voice, ``then`` seconds of silence."""
    from voiceagent.local_speech import local_voice
    from voiceagent.simulated_voice import resample

    voice = local_voice("en-US")
    speech = resample(voice.synthesize(text), voice.sample_rate)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * int(16000 * after) + speech + b"\x00\x00" * int(16000 * then))
    return path


class TryBotByVoiceTests(BrowserLiveServerTestCase):
    def setUp(self):
        require_local_speech()
        self.org = Organization.objects.create(name="Bright Smile", slug="bright")
        self.operator = member(self.org, "bright-operator")
        config = json.loads((DEMO / "dental_en.json").read_text(encoding="utf-8"))
        # The fake microphone says its line 14 s in, whenever the greeting (slower on the server's
        # first voice session) ends: the bot must not take the wait for a silence first.
        config["flow"]["limits"] = {**config["flow"].get("limits", {}), "silence_timeout_seconds": 20}
        self.dental = Skillbase(organization=self.org, name="Reminder", **{k: config[k] for k in ("context", "flow", "voice", "llm")})
        self.dental.save()

    def test_a_reminder_confirmed_by_voice_through_the_microphone(self):
        from playwright.sync_api import expect

        wav = microphone_wav(Path(tempfile.mkdtemp(prefix="nv-mic-")) / "yes.wav", "Yes, that works for me.", after=14, then=40)
        with browser_page("try-bot-voice", microphone=wav) as page:
            log_in(page, self.live_server_url, self.operator.username)
            page.goto(f"{self.live_server_url}/admin/skillbases/skillbase/{self.dental.pk}/try/")
            page.locator('#contact input[name="name"]').fill("Anna")
            page.locator('#contact input[name="appointment_time"]').fill("Thursday at 10 AM")
            page.locator('#contact input[name="doctor"]').fill("Dr. Lee")
            page.get_by_role("button", name="Start by voice").click()
            expect(page.locator("#voice-status")).to_have_text("Listening: speak into your microphone.")

            heard = page.locator("#transcript .line.heard")
            bot = page.locator("#transcript .line.bot")
            # The bot greets aloud (its line appears once played), hears the microphone's "yes" through
            # its own recogniser, and confirms.
            expect(bot.first).to_have_text(re.compile(r"^Hi Anna, this is Emma from Bright Smile Dental"), timeout=60_000)
            expect(heard.first).to_contain_text(re.compile(r"yes", re.IGNORECASE), timeout=60_000)
            expect(page.locator("#state-outcome")).to_have_text("success", timeout=60_000)
            expect(bot.last).to_contain_text("see you on Thursday at 10 AM with Dr. Lee")
            screenshot(page, "try-bot-voice-1280-en")
            sent, received, loudest = page.evaluate("[window.tryBotVoice.sent, window.tryBotVoice.received, window.tryBotVoice.loudest]")
            assert page.js_errors == []
        # The page streamed its microphone (the file's speech in it) and played the bot's audio:
        # seconds of each, at 16 kHz.
        assert sent > 16000 * 15 and loudest > 3000, (sent, loudest)
        assert received > 16000 * 8, received
