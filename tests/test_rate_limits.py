"""Limits on issuing API tokens (per user) and on failed sign-ins at the admin and the browsable
API (per username and address, and per address), all counted in the cache."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tenancy.models import ApiToken

PASSWORD = "pw-for-tests-only"
LOGIN_PAGES = ["/admin/login/", "/api-auth/login/"]


@pytest.fixture
def limits(settings):
    settings.API_TOKEN_ISSUE_RATE = "3/hour"
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_ADDRESS = 5
    settings.LOGIN_FAILURE_WINDOW = 900
    return settings


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def sign_in(path: str, username: str, password: str, address: str = "203.0.113.7"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password, "next": "/admin/"})


# Tokens


def test_issuing_tokens_is_limited_per_user_with_retry_after(limits, operator, viewer):
    client = session(operator)
    for _number in range(3):
        assert client.post("/api/tokens", {"name": "CI"}, format="json").status_code == 201
    response = client.post("/api/tokens", {"name": "One too many"}, format="json")
    assert response.status_code == 429
    assert 3500 < int(response["Retry-After"]) <= 3600
    assert response.json()["detail"].startswith("You have issued too many tokens lately. Expected available in ")
    assert ApiToken.objects.filter(user=operator).count() == 3
    # Listing and revoking are not limited; another user has an allowance of their own.
    assert client.get("/api/tokens").status_code == 200
    assert client.delete(f"/api/tokens/{ApiToken.objects.filter(user=operator).first().pk}").status_code == 204
    assert session(viewer).post("/api/tokens", {}, format="json").status_code == 201


def test_the_default_allows_a_normal_day(operator):
    client = session(operator)
    for _number in range(5):
        assert client.post("/api/tokens", {}, format="json").status_code == 201


# Sign-ins


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_failed_sign_ins_lock_the_username_from_that_address(limits, path, operator):
    for _number in range(3):
        response = sign_in(path, operator.username, "wrong")
        assert response.status_code == 200  # the form again, with its error
    response = sign_in(path, operator.username, PASSWORD)  # even the right password
    assert response.status_code == 429
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert 0 < int(response["Retry-After"]) <= 900
    assert response.content.decode().startswith("Too many failed sign-in attempts. Try again in ")
    assert "_auth_user_id" not in response.wsgi_request.session
    # Another address, or another username from this one, may still sign in.
    assert sign_in(path, operator.username, PASSWORD, address="198.51.100.1").status_code == 302
    assert sign_in(path, "someone-else", "wrong").status_code == 200


def test_both_login_pages_share_the_count(limits, operator):
    sign_in("/admin/login/", operator.username, "wrong")
    sign_in("/api-auth/login/", operator.username, "wrong")
    sign_in("/admin/login/", operator.username.upper(), "wrong")
    assert sign_in("/api-auth/login/", operator.username, PASSWORD).status_code == 429


def test_one_address_guessing_many_usernames_is_stopped(limits, operator):
    for number in range(5):
        assert sign_in("/admin/login/", f"guess-{number}", "wrong").status_code == 200
    assert sign_in("/admin/login/", operator.username, PASSWORD).status_code == 429
    assert sign_in("/admin/login/", operator.username, PASSWORD, address="198.51.100.1").status_code == 302


def test_a_success_clears_the_usernames_failures(limits, operator):
    for _round in range(2):
        sign_in("/admin/login/", operator.username, "wrong")
        sign_in("/admin/login/", operator.username, "wrong")
        assert sign_in("/admin/login/", operator.username, PASSWORD).status_code == 302


def test_a_signed_in_user_guessing_another_password_is_counted(limits, operator, viewer):
    client = Client(REMOTE_ADDR="203.0.113.7")
    client.force_login(operator)
    for _number in range(3):
        client.post("/admin/login/", {"username": viewer.username, "password": "wrong", "next": "/admin/"})
    assert sign_in("/admin/login/", viewer.username, PASSWORD).status_code == 429


def test_forwarded_for_is_ignored_unless_proxies_are_declared(limits, settings, operator):
    def attempt(forwarded_for: str, password: str = "wrong"):
        client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for)
        return client.post("/admin/login/", {"username": operator.username, "password": password, "next": "/admin/"})

    for number in range(3):  # a forged header per attempt changes nothing: the peer is 10.0.0.2
        attempt(f"192.0.2.{number}")
    assert attempt("192.0.2.99", PASSWORD).status_code == 429
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert attempt("192.0.2.99", PASSWORD).status_code == 302  # behind one proxy, the client is its last hop


def test_get_of_the_login_page_is_never_limited(limits, operator):
    for _number in range(6):
        sign_in("/admin/login/", operator.username, "wrong")
    assert Client(REMOTE_ADDR="203.0.113.7").get("/admin/login/").status_code == 200
