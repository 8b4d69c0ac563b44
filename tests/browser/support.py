"""Real-browser test support: Debian's Chromium driven by Playwright, the admin login form, screenshots.

The browser is the system's own (/usr/bin/chromium, Debian package `chromium`); Playwright never
downloads one. Each browser gets a fresh, throw-away profile. Without Chromium the browser tests
skip locally and fail in CI (CI=true), never pass silently.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from channels.testing import ChannelsLiveServerTestCase
from django.db import connections

from tests.support.ci import in_ci

CHROMIUM = Path("/usr/bin/chromium")
# --headless comes from headless=True, --user-data-dir from launch_persistent_context.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TEST_PASSWORD = "pw-for-browser-tests"
TIMEOUT_MS = 15_000


def require_chromium() -> None:
    """Skip (locally) or fail (in CI) with a clear message when Debian's Chromium is not installed."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    message = f"browser tests need Debian's Chromium at {CHROMIUM}: apt-get install chromium"
    if in_ci():
        pytest.fail(f"{message} (.ci/run installs it; CI must run the browser tests)", pytrace=False)
    pytest.skip(message)


class BrowserLiveServerTestCase(ChannelsLiveServerTestCase):
    """Channels' live server (daphne in a forked process, HTTP + WebSockets) made safe for our databases.

    * Without Chromium the class skips (or fails, in CI) before daphne starts.
    * The forked server finds its database through TEST NAME, or else "test_" + NAME. After the test
      database is made NAME already is the test database, so on PostgreSQL it would look for
      "test_test_…" (django/channels#2176): point TEST NAME at the database actually in use.
    * Open connections are closed before the fork: a child must never inherit an open SQLite
      connection (its reads go stale: a user made by the second test could not log in).
    """

    @classmethod
    def setUpClass(cls):
        require_chromium()
        cls._saved_test_names = {}
        for connection in connections.all():
            test = connection.settings_dict.setdefault("TEST", {})
            cls._saved_test_names[connection.alias] = test.get("NAME")
            test["NAME"] = connection.settings_dict["NAME"]
        connections.close_all()
        try:
            super().setUpClass()
        except BaseException:
            cls._restore_test_names()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._restore_test_names()

    @classmethod
    def _restore_test_names(cls):
        for connection in connections.all():
            connection.settings_dict["TEST"]["NAME"] = cls._saved_test_names.get(connection.alias)


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG under test-artifacts/screenshots/ and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def fake_microphone(wav: Path | None) -> list[str]:
    if wav is None:
        return []
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}"]


@contextmanager
def browser_page(name: str, *, locale: str = "en-US", microphone: Path | None = None) -> Iterator:
    """A page in a fresh headless Chromium; on an error, a screenshot `<name>-failure.png` is saved.

    Playwright's sync API marks an asyncio loop as running in this thread while it is open, and
    Django refuses ORM calls then: make the rows before entering, check the database after leaving.
    The page's JavaScript errors and console errors (but the admin's missing favicon) are collected
    in `page.js_errors`. ``microphone``: a WAV file Chromium's fake microphone plays (looped), with
    the permission to use it granted.
    """
    require_chromium()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="nv-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=[*CHROMIUM_FLAGS, *fake_microphone(microphone)],
            locale=locale,
            viewport={"width": 1280, "height": 900},
        )
        try:
            context.set_default_timeout(TIMEOUT_MS)
            page = context.pages[0] if context.pages else context.new_page()
            page.js_errors = []

            def on_console(message) -> None:
                if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
                    page.js_errors.append(message.text)

            page.on("pageerror", lambda error: page.js_errors.append(str(error)))
            page.on("console", on_console)
            try:
                yield page
            except BaseException:
                try:
                    screenshot(page, f"{name}-failure")
                except Exception:  # the page may be gone; the original error matters more
                    pass
                raise
        finally:
            context.close()


def log_in(page, base_url: str, username: str, password: str = TEST_PASSWORD) -> None:
    """Log in through the real admin login form and wait for the admin index."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/admin/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("#login-form [type=submit]").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("#user-tools")).to_contain_text(username)


def operator_of(name: str, slug: str):
    """An organization and an operator of it who logs in with TEST_PASSWORD: (organization, user)."""
    from django.contrib.auth import get_user_model

    from tenancy.models import Membership, Organization, Role

    organization = Organization.objects.create(name=name, slug=slug)
    user = get_user_model().objects.create_user(username=f"{slug}-operator", password=TEST_PASSWORD, is_staff=True)
    Membership.objects.create(organization=organization, user=user, role=Role.OPERATOR)
    return organization, user


@contextmanager
def operator_page(name: str, base_url: str, user, *, language: str, width: int, height: int = 1000) -> Iterator:
    """``browser_page`` in ``language`` ("en" or "ru") at ``width`` px, logged in as ``user``."""
    with browser_page(name, locale="ru-RU" if language == "ru" else "en-US") as page:
        page.set_viewport_size({"width": width, "height": height})
        log_in(page, base_url, user.username)
        yield page
