"""CSRF is enforced wherever a browser session can write: the admin's forms (sign-in included) and
the API when it is reached with the session cookie. A token-authenticated API client carries no
cookie, so it needs no CSRF token (tests/test_api_auth.py)."""

from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from skillbases.models import Skillbase

PASSWORD = "pw-for-tests-only"


def csrf_token(client) -> str:
    """The token a browser would have: the cookie set by a page with a form on it."""
    client.get(reverse("admin:index"))
    client.get(reverse("admin:login"))
    return client.cookies["csrftoken"].value


def test_admin_sign_in_needs_the_csrf_token(operator):
    client = Client(enforce_csrf_checks=True)
    form = {"username": operator.username, "password": PASSWORD, "next": "/admin/"}
    assert client.post(reverse("admin:login"), form).status_code == 403
    form["csrfmiddlewaretoken"] = csrf_token(client)
    assert client.post(reverse("admin:login"), form).status_code == 302


def test_admin_changes_need_the_csrf_token(operator, skillbase):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(reverse("admin:skillbases_skillbase_delete", args=[skillbase.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Skillbase.objects.filter(pk=skillbase.pk).exists()
    token = csrf_token(client)
    response = client.post(reverse("admin:skillbases_skillbase_delete", args=[skillbase.pk]), {"post": "yes", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert not Skillbase.objects.filter(pk=skillbase.pk).exists()


def test_api_writes_with_the_session_need_the_csrf_token(operator, skillbase, minimal_config):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.get("/api/skillbases").status_code == 200  # reads need none
    attempts = [
        ("post", "/api/skillbases", {"name": "Without CSRF", **minimal_config}),
        ("patch", f"/api/skillbases/{skillbase.pk}", {"name": "Renamed"}),
        ("delete", f"/api/skillbases/{skillbase.pk}", None),
        ("post", "/api/tokens", {"name": "Minted from another site"}),
    ]
    for method, path, data in attempts:
        response = getattr(client, method)(path, data, format="json")
        assert response.status_code == 403, (method, path)
        assert response.json()["detail"].startswith("CSRF Failed"), (method, path)
    assert list(Skillbase.objects.values_list("name", flat=True)) == [skillbase.name]
    assert not operator.auth_token_set.exists()

    client.credentials(HTTP_X_CSRFTOKEN=csrf_token(client))
    response = client.post("/api/skillbases", {"name": "With CSRF", **minimal_config}, format="json")
    assert response.status_code == 201, response.content
