"""A skillbase may name only the key variables an administrator allowed, and send them only to
public https addresses (or hosts the administrator allowed): checked at every door that writes a
configuration, and again before a request leaves."""

import pytest
from rest_framework.test import APIClient

from skillbases import provider_rules
from skillbases.models import Skillbase
from skillbases.schemas import ConfigError, validate_config
from voiceagent.providers import build_llm

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict(settings):
    settings.NEWVOICE_PROVIDER_KEY_ENVS = ["OPENAI_API_KEY"]
    settings.NEWVOICE_PROVIDER_HOSTS_ALLOWED = []


def with_llm(minimal_config, **llm) -> dict:
    return {**minimal_config, "llm": {"provider": "openai", "model": "gpt-4o-mini", **llm}}


@pytest.mark.usefixtures("strict")
@pytest.mark.parametrize("name", ["DATABASE_URL", "SECRET_KEY", "LIVEKIT_API_SECRET", "PATH"])
def test_a_key_variable_nobody_allowed_is_refused_through_the_api(org, operator, minimal_config, name):
    client = APIClient()
    client.force_authenticate(operator)
    response = client.post("/api/skillbases", {"name": "Leaky", **with_llm(minimal_config, api_key_env=name)}, format="json")
    assert response.status_code == 400
    assert f"'{name}' is not a provider key this installation allows" in str(response.json())
    assert not Skillbase.objects.filter(name="Leaky").exists()


@pytest.mark.usefixtures("strict")
@pytest.mark.parametrize(
    "url",
    [
        "http://llm.example.com/v1",  # plain http
        "https://169.254.169.254/latest",  # cloud metadata
        "https://127.0.0.1:8080/v1",
        "https://localhost/v1",
        "https://10.0.0.5/v1",
        "https://192.168.1.10/v1",
        "https://[::1]/v1",
        "https://[::ffff:169.254.169.254]/v1",
        "https://metadata.google.internal/",
    ],
)
def test_an_internal_or_plain_http_address_is_refused(minimal_config, url):
    with pytest.raises(ConfigError, match="llm.base_url"):
        validate_config(with_llm(minimal_config, base_url=url))


@pytest.mark.usefixtures("strict")
def test_a_public_https_address_and_an_allowed_host_are_accepted(minimal_config, settings):
    validate_config(with_llm(minimal_config, base_url="https://llm.example.com/v1"))
    settings.NEWVOICE_PROVIDER_HOSTS_ALLOWED = ["10.0.0.0/8"]
    validate_config(with_llm(minimal_config, base_url="http://10.1.2.3:8000/v1"))


@pytest.mark.usefixtures("strict")
def test_a_public_name_that_resolves_inside_is_refused_before_sending(monkeypatch):
    # The name's resolution is the outside world here: it answers with the metadata address.
    monkeypatch.setattr(provider_rules.socket, "getaddrinfo", lambda host, port: [(2, 1, 6, "", ("169.254.169.254", port))])
    assert provider_rules.url_problem("https://llm.example.com/v1") == ""
    with pytest.raises(ValueError, match="private, loopback, link-local or metadata"):
        provider_rules.check_before_sending("https://llm.example.com/v1")


def test_a_configuration_saved_before_the_rules_is_not_used(org, skillbase_factory, minimal_config, settings, monkeypatch):
    """An older version naming a variable no longer allowed fails to load: nothing is read or sent."""
    monkeypatch.setenv("NV_TEST_KEY", "secret")
    skillbase = skillbase_factory(org, config=with_llm(minimal_config, api_key_env="NV_TEST_KEY"))
    settings.NEWVOICE_PROVIDER_KEY_ENVS = ["OPENAI_API_KEY"]
    with pytest.raises(ConfigError, match="NV_TEST_KEY"):
        skillbase.parsed_config()


@pytest.mark.usefixtures("strict")
def test_build_llm_checks_the_address_as_it_resolves_now(minimal_config, settings, monkeypatch):
    config = validate_config(with_llm(minimal_config, base_url="https://llm.example.com/v1"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setattr(provider_rules.socket, "getaddrinfo", lambda host, port: [(2, 1, 6, "", ("10.0.0.7", port))])
    with pytest.raises(ValueError, match="private"):
        build_llm(config, conversation=None)
