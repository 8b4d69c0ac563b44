"""The one settings module picks its backends from the environment.

Each case imports the settings in a fresh interpreter with a controlled environment, because the
module is read once per process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'name': str(s.DATABASES['default']['NAME']), "
    "'options': {k: str(v) for k, v in s.DATABASES['default'].get('OPTIONS', {}).items()}, "
    "'layer': s.CHANNEL_LAYERS['default']['BACKEND'], 'q': s.Q_CLUSTER, 'debug': s.DEBUG, "
    "'lang': s.LANGUAGE_CODE, 'tz': s.TIME_ZONE, 'first_app': s.INSTALLED_APPS[0]}))"
)


def run_settings(**env_overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY")}
    env.update({"DJANGO_SETTINGS_MODULE": "newvoice.settings", **env_overrides})
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def probe(**env_overrides) -> dict:
    result = run_settings(**env_overrides)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_default_is_sqlite_in_wal_mode_under_the_project_with_in_memory_layer():
    s = probe()
    assert s["engine"] == "django.db.backends.sqlite3"
    assert Path(s["name"]).is_relative_to(ROOT)
    assert s["options"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in s["options"]["init_command"]
    assert int(s["options"]["timeout"]) > 0
    assert s["layer"] == "channels.layers.InMemoryChannelLayer"
    assert s["first_app"] == "daphne"


def test_database_url_selects_postgresql_and_redis_url_selects_redis_layer():
    s = probe(DATABASE_URL="postgres://postgres@127.0.0.1:5432/somedb", REDIS_URL="redis://127.0.0.1:6379/3")
    assert s["engine"] == "django.db.backends.postgresql"
    assert s["name"] == "somedb"
    assert s["layer"] == "channels_redis.core.RedisChannelLayer"


def test_empty_urls_mean_the_embedded_default():
    s = probe(DATABASE_URL="", REDIS_URL="")
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["layer"] == "channels.layers.InMemoryChannelLayer"


def test_q2_retry_exceeds_timeout_and_uses_the_orm_broker():
    q = probe()["q"]
    assert q["orm"] == "default"
    assert q["retry"] > q["timeout"] > 0


def test_language_and_time_zone_come_from_the_environment():
    s = probe(LANGUAGE_CODE="ru", TIME_ZONE="Europe/Moscow")
    assert (s["lang"], s["tz"]) == ("ru", "Europe/Moscow")


def test_secret_key_required_when_debug_is_off():
    result = run_settings(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize("debug", ["0"])
def test_check_deploy_is_clean_with_production_settings(debug):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DEBUG=debug,
        SECRET_KEY="x7$kq2!vLr9#pW4zN8@tY1^mB6&cF3*hJ5(dS0)gA" * 2,
        ALLOWED_HOSTS="voice.example.com",
        DJANGO_SETTINGS_MODULE="newvoice.settings",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
