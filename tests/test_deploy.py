"""The production stack in deploy/: the compose file loads, every variable it and the app read is
documented in deploy/.env.example, and no secret is written in the files. (`docker compose config`
is not needed: the file is read as YAML, the way compose reads it, merge keys included.)"""

import re
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SETTINGS = Path(__file__).resolve().parent.parent / "newvoice" / "settings.py"

APP_SERVICES = {"migrate", "web", "qcluster", "dialer", "agent"}
# Read by the LiveKit images themselves: livekit-server's LIVEKIT_KEYS and REDIS_HOST flags; the SIP
# service's config file path and its api_key/api_secret/ws_url fallbacks (livekit/sip pkg/config).
LIVEKIT_SERVICE_ENV = {"LIVEKIT_KEYS", "REDIS_HOST", "SIP_CONFIG_FILE", "LIVEKIT_WS_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"}
# Read by the postgres and caddy images.
IMAGE_ENV = {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "SITE_ADDRESS"}
# Read by the app outside settings.py: provider keys (voiceagent.providers.KEY_ENV) and seed_demo.
APP_ENV_OUTSIDE_SETTINGS = {"OPENAI_API_KEY", "DEEPGRAM_API_KEY", "CARTESIA_API_KEY", "ELEVEN_API_KEY", "DEMO_PASSWORD"}
# Interpolated by compose into images and versions only.
COMPOSE_ONLY = {"NEWVOICE_IMAGE", "LIVEKIT_SERVER_VERSION", "LIVEKIT_SIP_VERSION"}
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|_KEYS?)$")


def settings_env_names() -> set[str]:
    return set(re.findall(r"""\benv(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", SETTINGS.read_text(encoding="utf-8")))


def documented_names() -> set[str]:
    """Variables in .env.example, set or commented out (`# NAME=`)."""
    text = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def interpolated_names(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_the_stack_has_every_process_kind(compose):
    services = compose["services"]
    assert {"postgres", "redis", "livekit", "sip", "proxy"} | APP_SERVICES <= services.keys()
    commands = {name: " ".join(services[name].get("command") or []) for name in APP_SERVICES}
    assert "migrate" in commands["migrate"]
    assert commands["qcluster"].endswith("manage.py qcluster")
    assert commands["dialer"].endswith("manage.py dispatcher")
    assert commands["agent"].endswith("manage.py run_agent")
    assert "daphne" in (DEPLOY / "Dockerfile").read_text(encoding="utf-8")  # the web service runs the image's CMD


def test_app_processes_wait_for_migrations(compose):
    services = compose["services"]
    assert services["migrate"]["restart"] == "no"
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name


def test_web_healthcheck_asks_api_health(compose):
    assert compose["services"]["web"]["healthcheck"]["test"] == ["CMD", "python", "deploy/healthcheck.py"]
    assert '"http://127.0.0.1:8000/api/health"' in (DEPLOY / "healthcheck.py").read_text(encoding="utf-8")
    assert compose["services"]["proxy"]["depends_on"]["web"] == {"condition": "service_healthy"}


def test_image_is_built_from_requirements():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install -r requirements.txt" in dockerfile
    assert "USER newvoice" in dockerfile


def test_every_setting_is_documented():
    missing = settings_env_names() - documented_names()
    assert not missing, f"add these to deploy/.env.example: {sorted(missing)}"


def test_every_documented_variable_is_read_by_something():
    known = settings_env_names() | LIVEKIT_SERVICE_ENV | IMAGE_ENV | APP_ENV_OUTSIDE_SETTINGS | COMPOSE_ONLY
    unknown = documented_names() - known
    assert not unknown, f"nothing reads these: {sorted(unknown)}"


def test_compose_interpolates_only_documented_variables():
    used = interpolated_names((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert used - documented_names() == set()


def test_every_service_environment_is_read_by_its_service(compose):
    read_by_app = settings_env_names() | APP_ENV_OUTSIDE_SETTINGS
    for name, service in compose["services"].items():
        keys = set(service.get("environment") or {})
        allowed = read_by_app if name in APP_SERVICES else LIVEKIT_SERVICE_ENV | IMAGE_ENV
        assert keys <= allowed, f"{name} sets variables nothing reads: {sorted(keys - allowed)}"


def test_no_secret_is_written_down(compose):
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert "${" in str(value), f"{name}.{key} must come from deploy/.env"
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        if SECRET_NAME.search(name):
            assert value == "", f"{name} has a value in .env.example"
    dockerignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert ".env" in dockerignore and "deploy/.env" in dockerignore


def test_livekit_configs_parse_and_hold_no_keys():
    server = yaml.safe_load((DEPLOY / "livekit.yaml").read_text(encoding="utf-8"))
    sip = yaml.safe_load((DEPLOY / "sip.yaml").read_text(encoding="utf-8"))
    assert server["port"] == 7880 and "keys" not in server
    assert sip["redis"]["address"] and not {"api_key", "api_secret", "ws_url"} & sip.keys()
    start, end = map(int, sip["rtp_port"].split("-"))
    published = compose_ports("sip")
    assert f"{start}-{end}:{start}-{end}/udp" in published and "5060:5060/udp" in published


def compose_ports(service: str) -> list[str]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))["services"][service]["ports"]
