"""API authentication: hashed, expiring tokens (issued and revoked through the API and the admin),
401 for anonymous requests everywhere but the public pages, and malformed JSON bodies."""

import datetime as dt
import hashlib
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tenancy.models import ApiToken, Role

PUBLIC = {"/api/health", "/api/schema/", "/api/docs/", "/api/redoc/"}


def api(user=None) -> APIClient:
    """A client signed in with a session (``force_login``), as the browsable API and a browser are."""
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def issue(user, **options) -> tuple[ApiToken, str]:
    return ApiToken.objects.issue(user, issued_by=user, **options)


def every_api_operation() -> list[tuple[str, str]]:
    """Each path and method the OpenAPI schema documents, with 1 for every path parameter."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method, re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


# Anonymous requests


@pytest.mark.parametrize("method, path", [(method, path) for method, path in every_api_operation() if path not in PUBLIC])
def test_anonymous_gets_401_with_the_scheme_to_use(db, method, path):
    response = getattr(APIClient(), method)(path, {}, format="json")
    assert response.status_code == 401, (method, path, response.status_code)
    assert response["WWW-Authenticate"] == "Token"
    if response["Content-Type"] == "application/json":  # not the CSV export
        assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_every_endpoint_was_checked():
    paths = {path for _method, path in every_api_operation()}
    assert {"/api/tokens/", "/api/organizations/1/members/1/", "/api/tasks/", "/api/stats/", "/api/campaigns/1/stats/"} <= paths


@pytest.mark.parametrize("path", sorted(PUBLIC))
def test_public_pages_stay_public(db, path):
    assert APIClient().get(path).status_code == 200


def test_health_ignores_a_bad_token(db):
    # A load balancer's probe carries no credentials; one that does must not break the probe.
    assert bearer("nv_not-a-token").get("/api/health").status_code == 200


# Tokens: issue, use, list, revoke


def test_issue_returns_the_secret_once_and_stores_only_its_digest(operator):
    response = api(operator).post("/api/tokens", {"name": "CRM sync"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["token"]
    assert secret.startswith("nv_") and len(secret) == 3 + 64
    token = ApiToken.objects.get(pk=body["id"])
    assert token.digest == hashlib.sha512(secret.encode()).hexdigest()
    assert secret not in {token.digest, token.token_key, token.name}
    assert (token.user, token.created_by, token.name) == (operator, operator, "CRM sync")
    assert set(body) == {"id", "name", "user", "username", "digest_prefix", "created", "expiry", "token"}
    assert body["digest_prefix"] == token.digest[:12]
    # Every token expires: 90 days by default.
    assert abs(token.expiry - (timezone.now() + dt.timedelta(days=90))) < dt.timedelta(minutes=1)
    listed = api(operator).get("/api/tokens").json()["results"]
    assert [row["id"] for row in listed] == [token.pk] and "token" not in listed[0]
    assert secret[3:15] not in str(listed)


def test_the_token_authenticates_until_it_expires(operator, skillbase):
    token, secret = issue(operator)
    response = bearer(secret).get("/api/skillbases")
    assert response.status_code == 200 and response.json()["count"] == 1
    ApiToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    response = bearer(secret).get("/api/skillbases")
    assert response.status_code == 401 and response.json() == {"detail": "Invalid token."}
    assert not ApiToken.objects.filter(pk=token.pk).exists()  # knox deletes an expired token when it is shown


def test_a_wrong_token_is_401(operator):
    _token, secret = issue(operator)
    response = bearer(secret[:-1] + ("0" if secret[-1] != "0" else "1")).get("/api/skillbases")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"


def test_a_token_writes_without_csrf(operator, org, minimal_config):
    _token, secret = issue(operator)
    response = bearer(secret).post("/api/skillbases", {"name": "By token", **minimal_config}, format="json")
    assert response.status_code == 201, response.content


def test_expiry_in_days_and_its_limits(operator, settings):
    response = api(operator).post("/api/tokens", {"expires_in_days": 7}, format="json")
    assert response.status_code == 201
    expiry = ApiToken.objects.get(pk=response.json()["id"]).expiry
    assert abs(expiry - (timezone.now() + dt.timedelta(days=7))) < dt.timedelta(minutes=1)
    for days in (0, settings.API_TOKEN_MAX_DAYS + 1, "soon"):
        response = api(operator).post("/api/tokens", {"expires_in_days": days}, format="json")
        assert response.status_code == 400 and "expires_in_days" in response.json()
    response = api(operator).post("/api/tokens", {"name": "x" * 101}, format="json")
    assert response.status_code == 400 and "name" in response.json()
    assert ApiToken.objects.count() == 1


def test_default_lifetime_comes_from_settings(operator, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": dt.timedelta(days=3)}
    token, _secret = issue(operator)
    assert abs(token.expiry - (timezone.now() + dt.timedelta(days=3))) < dt.timedelta(minutes=1)


def test_a_token_cannot_issue_another(operator):
    _token, secret = issue(operator)
    response = bearer(secret).post("/api/tokens", {"name": "Second"}, format="json")
    assert response.status_code == 403
    assert "signed-in session" in response.json()["detail"]
    assert ApiToken.objects.count() == 1


def test_list_shows_my_unexpired_tokens_only(operator, viewer):
    mine, _ = issue(operator, name="Mine")
    expired, _ = issue(operator, name="Old")
    ApiToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - dt.timedelta(days=1))
    issue(viewer, name="A colleague's")
    rows = api(operator).get("/api/tokens").json()["results"]
    assert [(row["id"], row["username"]) for row in rows] == [(mine.pk, operator.username)]


def test_revoke_my_token(operator):
    token, secret = issue(operator)
    response = bearer(secret).delete(f"/api/tokens/{token.pk}")
    assert response.status_code == 204
    assert bearer(secret).get("/api/tokens").status_code == 401


def test_org_admin_lists_and_revokes_members_tokens(org_admin, operator, outsider):
    member_token, _ = issue(operator, name="Operator's")
    issue(outsider, name="Outsider's")
    own, _ = issue(org_admin, name="Admin's")
    rows = api(org_admin).get("/api/tokens").json()["results"]
    assert {row["name"] for row in rows} == {"Operator's", "Admin's"}
    rows = api(org_admin).get(f"/api/tokens?user={operator.pk}").json()["results"]
    assert [row["id"] for row in rows] == [member_token.pk]
    assert api(org_admin).delete(f"/api/tokens/{member_token.pk}").status_code == 204
    assert list(ApiToken.objects.values_list("pk", flat=True).filter(user=operator)) == []
    assert own.pk in ApiToken.objects.values_list("pk", flat=True)


def test_a_member_cannot_revoke_a_colleagues_token(org_admin, operator):
    token, _ = issue(org_admin)
    assert api(operator).delete(f"/api/tokens/{token.pk}").status_code == 404
    assert api(operator).get(f"/api/tokens/{token.pk}").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_another_organizations_admin_cannot_see_or_revoke(operator, other_org, member_factory):
    their_admin = member_factory(other_org, Role.ADMIN, "their-admin")
    token, _ = issue(operator)
    assert api(their_admin).get("/api/tokens").json()["results"] == []
    assert api(their_admin).delete(f"/api/tokens/{token.pk}").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_tokens_list_has_no_n_plus_one(org, org_admin, member_factory, django_assert_max_num_queries):
    client = api(org_admin)
    issue(org_admin)
    with django_assert_max_num_queries(10) as one:
        assert client.get("/api/tokens").json()["count"] == 1
    for number in range(4):
        issue(member_factory(org, Role.VIEWER, f"viewer-{number}"))
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get("/api/tokens").json()["count"] == 5


# Malformed JSON


@pytest.mark.parametrize("path", ["/api/skillbases", "/api/tokens", "/api/campaigns", "/api/dnc"])
def test_malformed_json_is_400_with_the_parse_error(operator, path):
    response = api(operator).post(path, '{"name": "Spring",', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")


def test_malformed_json_with_a_token_is_400_too(operator, skillbase):
    _token, secret = issue(operator)
    response = bearer(secret).patch(f"/api/skillbases/{skillbase.pk}", "{name: 1}", content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"].startswith("JSON parse error - ")


# The admin: issue (the secret shown once) and revoke


def admin_client(user):
    client = APIClient()
    client.force_login(user)
    return client


def issue_in_admin(client, username: str, name: str = "From the admin", days: int = 30):
    return client.post(reverse("admin:tenancy_apitoken_add"), {"user": username, "name": name, "expires_in_days": days})


def test_admin_issues_a_token_and_shows_the_secret_once(operator):
    client = admin_client(operator)
    page = client.get(reverse("admin:tenancy_apitoken_add"))
    assert page.status_code == 200 and page.context["adminform"].form.initial["expires_in_days"] == 90
    response = issue_in_admin(client, operator.username)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    secret = response.context["secret"]
    assert secret.encode() in response.content
    token = ApiToken.objects.get()
    assert (token.user, token.created_by, token.name) == (operator, operator, "From the admin")
    assert abs(token.expiry - (timezone.now() + dt.timedelta(days=30))) < dt.timedelta(minutes=1)
    assert bearer(secret).get("/api/tokens").status_code == 200
    # Afterwards the token's own page never shows the secret.
    detail = client.get(reverse("admin:tenancy_apitoken_change", args=[token.pk]))
    assert detail.status_code == 200 and secret.encode() not in detail.content
    assert secret.encode() not in client.get(reverse("admin:tenancy_apitoken_changelist")).content


def test_org_admin_issues_a_token_for_a_member_but_not_an_outsider(org_admin, operator, outsider):
    client = admin_client(org_admin)
    assert issue_in_admin(client, operator.username).status_code == 200
    assert ApiToken.objects.get().user == operator
    response = issue_in_admin(client, outsider.username)
    assert response.status_code == 200 and "user" in response.context["adminform"].form.errors
    assert ApiToken.objects.count() == 1


def test_a_member_issues_tokens_for_themselves_only(operator, viewer):
    response = issue_in_admin(admin_client(operator), viewer.username)
    assert "user" in response.context["adminform"].form.errors
    assert not ApiToken.objects.exists()


def test_admin_revokes_by_deleting(org_admin, operator, outsider):
    token, secret = issue(operator)
    theirs, _ = issue(outsider)
    client = admin_client(org_admin)
    changelist = client.get(reverse("admin:tenancy_apitoken_changelist"))
    assert list(changelist.context["cl"].queryset) == [token]
    assert client.get(reverse("admin:tenancy_apitoken_change", args=[theirs.pk])).status_code == 404
    response = client.post(reverse("admin:tenancy_apitoken_delete", args=[token.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert bearer(secret).get("/api/tokens").status_code == 401
    assert ApiToken.objects.filter(pk=theirs.pk).exists()


def test_a_token_cannot_be_edited_in_the_admin(operator):
    token, _ = issue(operator, name="Fixed")
    client = admin_client(operator)
    response = client.post(reverse("admin:tenancy_apitoken_change", args=[token.pk]), {"name": "Changed"})
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.name == "Fixed"
