"""List filters that name a related row treat another organization's id exactly like an unknown id
(400 naming the filter), so a list never tells whether someone else's row exists."""

import pytest
from rest_framework.test import APIClient

from campaigns.models import Campaign

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def theirs(other_org, skillbase_factory):
    skillbase = skillbase_factory(other_org)
    return Campaign.objects.create(organization=other_org, name="Theirs", skillbase=skillbase)


@pytest.mark.parametrize(
    ("path", "param", "of"),
    [
        ("/api/campaigns", "organization", "org"),
        ("/api/campaigns", "skillbase", "skillbase"),
        ("/api/skillbases", "organization", "org"),
        ("/api/dnc", "organization", "org"),
    ],
)
def test_another_organizations_id_reads_as_unknown(operator, org, skillbase, theirs, path, param, of):
    client = api(operator)
    own = {"org": org.pk, "skillbase": skillbase.pk}[of]
    foreign = {"org": theirs.organization_id, "skillbase": theirs.skillbase_id}[of]
    assert client.get(path, {param: own}).status_code == 200
    unknown = client.get(path, {param: 999999})
    other = client.get(path, {param: foreign})
    assert unknown.status_code == other.status_code == 400
    assert param in other.json() and other.json() == {param: [m.replace("999999", str(foreign)) for m in unknown.json()[param]]}


def test_a_filter_on_a_row_kind_without_an_organization_refuses_every_id(operator):
    """The scoped filter set serves any foreign key a list filters on; one to a model that has no
    organization (here the user) refuses every id instead of failing."""
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from tenancy.filtering import visible_rows

    request = RequestFactory().get("/")
    request.user = operator
    assert not visible_rows(get_user_model())(request).exists()
