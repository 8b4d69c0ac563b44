"""Property-based API tests generated from our own OpenAPI schema (schemathesis, bounded examples).

Every operation is called by an organization admin with a real API token, on data of two
organizations, with generated parameters and bodies. Whatever the input: no 5xx, and each response
has the content type and the body the schema documents for it.
"""

import json

import pytest
import schemathesis
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tenancy.models import ApiToken, Role
from tests.support.calls import conversation, ended_call
from tests.support.engine import make_campaign

CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(db):
    from drf_spectacular.generators import SchemaGenerator

    raw = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), cls=DjangoJSONEncoder))
    loaded = schemathesis.openapi.from_dict(raw)
    loaded.app = get_wsgi_application()
    # As Django's test client does: the test's transaction holds the connection, so a request must
    # not close it when it ends.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield loaded
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def token(org, other_org, member_factory, skillbase, skillbase_factory):
    """An admin's token, and something to find in both organizations."""
    admin = member_factory(org, Role.ADMIN)
    campaign = make_campaign(org, skillbase, contacts=3)
    ended_call(campaign, events=conversation(("assistant", "Hello"), ("user", "Yes"), steps=("greeting",)))
    make_campaign(other_org, skillbase_factory(other_org), contacts=1)
    _token, secret = ApiToken.objects.issue(admin, name="schemathesis")
    return secret


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors_and_responses_match_the_schema(case, token):
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
