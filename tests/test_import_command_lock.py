"""``manage.py import_contacts`` on the embedded SQLite: a large file imports in batches that each
commit, so SQLite's single write lock is free between them and other writers (the web server, the
dispatcher) get through; one transaction for the whole file held it for minutes."""

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from campaigns.models import CallTask
from tests.support.engine import make_campaign

ROOT = Path(__file__).resolve().parent.parent
ROWS = 60_000

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="about SQLite's one write lock; PostgreSQL locks rows"),
]


def test_a_large_command_import_leaves_the_write_lock_to_others_between_batches(org, skillbase, tmp_path, settings):
    campaign = make_campaign(org, skillbase)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone,name\n" + "".join(f"+7916{n:07d},Contact {n}\n" for n in range(ROWS)), encoding="utf-8")
    database = settings.DATABASES["default"]["NAME"]
    env = {
        "PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "newvoice.settings", "DATABASE_URL": f"sqlite:///{database}",
        "NEWVOICE_IMPORT_BACKGROUND_BYTES": "100000", "SECRET_KEY": "test-only", "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    command = [sys.executable, "manage.py", "import_contacts", str(contacts), "--campaign", str(campaign.pk), "--json"]
    importer = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waits, refused = [], []

    def write_meanwhile():
        other = sqlite3.connect(database, timeout=2.0, isolation_level=None)
        try:
            while importer.poll() is None:
                started = time.monotonic()
                try:
                    other.execute("BEGIN IMMEDIATE")
                    other.execute("ROLLBACK")
                    waits.append(time.monotonic() - started)
                except sqlite3.OperationalError as exc:  # "database is locked" after the 2 s timeout
                    refused.append(str(exc))
                time.sleep(0.05)
        finally:
            other.close()

    writer = threading.Thread(target=write_meanwhile)
    writer.start()
    out, err = importer.communicate(timeout=300)
    writer.join()
    assert importer.returncode == 0, err
    assert '"imported": 60000' in out
    assert CallTask.objects.filter(campaign=campaign).count() == ROWS
    assert refused == [] and waits and max(waits) < 2.0
