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


@pytest.mark.parametrize("seconds", ["5", "4000"])
def test_a_call_lease_out_of_range_is_refused_at_start(seconds):
    result = run_settings(NEWVOICE_CALL_LEASE_SECONDS=seconds)
    assert result.returncode != 0
    assert "NEWVOICE_CALL_LEASE_SECONDS must be between 10 and 3600 seconds." in result.stderr


@pytest.mark.parametrize("load", ["0", "1.5"])
def test_an_agent_load_threshold_out_of_range_is_refused_at_start(load):
    result = run_settings(NEWVOICE_AGENT_LOAD_THRESHOLD=load)
    assert result.returncode != 0
    assert "NEWVOICE_AGENT_LOAD_THRESHOLD must be above 0 and at most 1." in result.stderr


PRODUCTION = {"DEBUG": "0", "SECRET_KEY": "x7$kq2!vLr9#pW4zN8@tY1^mB6&cF3*hJ5(dS0)gA" * 2, "ALLOWED_HOSTS": "voice.example.com"}
# Behind a TLS terminator that forwards the scheme and appends to X-Forwarded-For.
BEHIND_PROXY = {**PRODUCTION, "SECURE_TLS": "1", "USE_X_FORWARDED_PROTO": "1", "NUM_PROXIES": "1"}


@pytest.mark.parametrize("production", [PRODUCTION, BEHIND_PROXY], ids=["direct", "behind-proxy"])
def test_check_deploy_is_clean_with_production_settings(production):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECURE_TLS", "SECURE_SSL_REDIRECT")}
    env.update(production, DJANGO_SETTINGS_MODULE="newvoice.settings")
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


SECURITY_PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({name: getattr(s, name) for name in ('SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
    "'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'API_TOKEN_ISSUE_RATE', 'LOGIN_FAILURES_PER_ACCOUNT', "
    "'LOGIN_FAILURES_PER_ADDRESS', 'LOGIN_FAILURE_WINDOW')} | {'proxies': s.REST_FRAMEWORK['NUM_PROXIES'], "
    "'throttle': 'tenancy.throttling.LoginThrottleMiddleware' in s.MIDDLEWARE}))"
)


def test_production_secures_cookies_and_limits_come_from_the_environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "LOGIN_", "API_TOKEN_", "NUM_PROXIES"))}
    env.update(PRODUCTION, DJANGO_SETTINGS_MODULE="newvoice.settings")
    run = subprocess.run([sys.executable, "-c", SECURITY_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    s = json.loads(run.stdout)
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"] and s["SECURE_SSL_REDIRECT"] and s["SECURE_HSTS_SECONDS"] >= 31536000
    assert (s["API_TOKEN_ISSUE_RATE"], s["LOGIN_FAILURES_PER_ACCOUNT"], s["LOGIN_FAILURES_PER_ADDRESS"]) == ("20/hour", 5, 30)
    assert s["proxies"] == 0 and s["throttle"]  # X-Forwarded-For is not trusted unless proxies are declared
    env.update(API_TOKEN_ISSUE_RATE="5/day", LOGIN_FAILURES_PER_ACCOUNT="3", LOGIN_FAILURE_WINDOW="3600", NUM_PROXIES="2")
    run = subprocess.run([sys.executable, "-c", SECURITY_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    s = json.loads(run.stdout)
    assert (s["API_TOKEN_ISSUE_RATE"], s["LOGIN_FAILURES_PER_ACCOUNT"], s["LOGIN_FAILURE_WINDOW"], s["proxies"]) == ("5/day", 3, 3600, 2)
