"""Shared fixtures: two organizations with members of each role, and valid skillbase configs.

Everything here writes real rows through the real models; nothing of ours is mocked.
"""

import copy
import inspect
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from tenancy.models import Membership, Organization, Role

DEMO = Path(__file__).resolve().parent.parent / "newvoice" / "demo"

MINIMAL_CONFIG = {
    "context": {
        "role": "receptionist",
        "company": "Test Clinic",
        "goal": "confirm the appointment",
        "language": "en-US",
    },
    "flow": {
        "start": "greeting",
        "steps": [
            {
                "id": "greeting",
                "say": "Hello {name}, this is {company}. Can you come tomorrow?",
                "transitions": [{"intent": "yes", "goto": "confirmed"}, {"intent": "no", "goto": "declined"}],
            },
            {"id": "confirmed", "say": "Great, see you then.", "end": True, "outcome": "success"},
            {"id": "declined", "say": "Understood, goodbye.", "end": True, "outcome": "refusal"},
        ],
        "intents": {"yes": {"en": ["yes", "sure"]}, "no": {"en": ["no"]}},
    },
}


@pytest.fixture
def minimal_config():
    """A fresh deep copy of a small valid config, safe to mutate in a test."""
    return copy.deepcopy(MINIMAL_CONFIG)


def _user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password="pw-for-tests-only", **extra)


@pytest.fixture
def org(db):
    return Organization.objects.create(name="Acme Salon", slug="acme")


@pytest.fixture
def other_org(db):
    return Organization.objects.create(name="Other Clinic", slug="other")


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser(username="root", password="pw-for-tests-only")


@pytest.fixture
def member_factory(db):
    def make(organization, role=Role.OPERATOR, username=None, *, is_staff=True):
        user = _user(username or f"{organization.slug}-{role}", is_staff=is_staff)
        Membership.objects.create(organization=organization, user=user, role=role)
        return user

    return make


@pytest.fixture
def operator(org, member_factory):
    return member_factory(org, Role.OPERATOR)


@pytest.fixture
def viewer(org, member_factory):
    return member_factory(org, Role.VIEWER)


@pytest.fixture
def org_admin(org, member_factory):
    return member_factory(org, Role.ADMIN)


@pytest.fixture
def outsider(other_org, member_factory):
    """An operator of the other organization."""
    return member_factory(other_org, Role.OPERATOR)


@pytest.fixture
def skillbase_factory(db, minimal_config):
    from skillbases.models import Skillbase

    def make(organization, name="Reminder", config=None, **kwargs):
        config = copy.deepcopy(config or minimal_config)
        skillbase = Skillbase(organization=organization, name=name, **config, **kwargs)
        skillbase.save()
        return skillbase

    return make


@pytest.fixture
def skillbase(org, skillbase_factory):
    return skillbase_factory(org)


@pytest.fixture
def salon(org):
    """The demo's Russian beauty-salon skillbase, exactly as seed_demo loads it."""
    from skillbases.models import Skillbase

    config = json.loads((DEMO / "salon_ru.json").read_text(encoding="utf-8"))
    skillbase = Skillbase(organization=org, name="Лилия", **{k: config[k] for k in ("context", "flow", "voice", "llm")})
    skillbase.save()
    return skillbase


@pytest.fixture(autouse=True, scope="session")
def provider_rules_of_the_test_installation():
    """The test installation's administrator allows the keys the tests name and the local
    OpenAI-compatible server on loopback (tests/support/openai_server.py). Set once for the
    session, before any live server forks; tests of the refusals override them."""
    from django.conf import settings

    settings.NEWVOICE_PROVIDER_KEY_ENVS = ["OPENAI_API_KEY", "NV_CHAT_KEY", "NV_LLM_KEY", "NV_TEST_KEY", "TEST_OPENAI_KEY"]
    settings.NEWVOICE_PROVIDER_HOSTS_ALLOWED = ["127.0.0.1"]


@pytest.fixture(autouse=True)
def empty_cache():
    """Throttle and sign-in counters live in the cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
async def close_thread_connections(request):
    """Async tests reach the ORM through sync_to_async's worker thread, whose connection would
    otherwise stay open and keep PostgreSQL from dropping the test database."""
    yield
    if inspect.iscoroutinefunction(request.function):
        from asgiref.sync import sync_to_async
        from django.db import connections

        await sync_to_async(connections.close_all)()
