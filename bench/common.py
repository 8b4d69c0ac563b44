"""What every benchmark needs: Django on production settings, and its own database."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(url: str | None = None, **env: str) -> None:
    """Django with DEBUG off (with it on, Django keeps every SQL statement in memory) on ``url``."""
    if url:
        os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 50)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newvoice.settings")
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database ``url`` names, if it does not exist."""
    import psycopg

    name, base = url.rsplit("/", 1)[1], url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(base, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


# Simulated callees who end in one call; callbacks and most retries wait minutes to hours in real time.
ONE_CALL_PERSONAS = {
    "agree": 40,
    "refuse": 20,
    "opt_out": 5,
    "silent": 5,
    "interrupt": 5,
    "voicemail": 15,
    "busy": 5,
    "no_answer": 3,
    "invalid": 2,
}


def salon_campaign(org, name: str, contacts: int, **fields):
    """The demo salon skillbase and a simulated campaign open around the clock with ``contacts`` to call."""
    import datetime as dt
    import json

    from analytics.price_list import seed_list_prices
    from campaigns.models import CallTask, Campaign
    from skillbases.models import Skillbase

    seed_list_prices()  # a TRUNCATE of organizations CASCADE empties the price table too
    raw = json.loads((ROOT / "newvoice" / "demo" / "salon_ru.json").read_text(encoding="utf-8"))
    skillbase = Skillbase(organization=org, name="Salon", **{k: raw[k] for k in ("context", "flow", "voice", "llm")})
    skillbase.save()
    campaign = Campaign.objects.create(
        organization=org, name=name, skillbase=skillbase, dialer="simulator", calls_per_minute=100_000,
        max_concurrent_calls=200, calling_days=[1, 2, 3, 4, 5, 6, 7], calling_window_start=dt.time(0, 0),
        calling_window_end=dt.time(23, 59, 59), default_timezone="Europe/Moscow", simulator_personas=ONE_CALL_PERSONAS,
        **fields,
    )  # fmt: skip
    CallTask.objects.bulk_create(
        CallTask(
            organization=org,
            campaign=campaign,
            phone=f"+7912{i:07d}",
            name="Анна",
            variables={"service": "маникюр"},
            timezones=["Europe/Moscow"],
        )  # fmt: skip
        for i in range(contacts)
    )
    return campaign
