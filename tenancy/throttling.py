"""Limits on guessing and on minting credentials: API tokens issued, and failed sign-ins.

Issuing tokens is a DRF throttle per user (``API_TOKEN_ISSUE_RATE``). Failed sign-ins at the admin's
and the browsable API's login pages are counted in the cache per username and address, and per
address alone; once either count reaches its limit, every sign-in there (the right password too) is
answered 429 until the window ends. A window opens with the first failure and lasts
``LOGIN_FAILURE_WINDOW`` seconds, so no clock boundary resets a count between two guesses.

The client's address is DRF's (``REST_FRAMEWORK["NUM_PROXIES"]``): without proxies the socket's peer,
behind N trusted proxies the N-th address from the right of X-Forwarded-For.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.utils.translation import ngettext
from rest_framework.throttling import BaseThrottle, UserRateThrottle

LOGIN_VIEWS = frozenset({"admin:login", "rest_framework:login"})


class TokenIssueThrottle(UserRateThrottle):
    """Tokens a user may issue: ``API_TOKEN_ISSUE_RATE`` (e.g. "20/hour")."""

    scope = "token_issue"

    def get_rate(self) -> str:
        # Read at request time: DRF binds its rates table when the module is imported.
        return settings.API_TOKEN_ISSUE_RATE


def client_address(request) -> str:
    return BaseThrottle().get_ident(request)


class LoginAttempt:
    """One POST to a login page: whether it may proceed, and counting it once answered."""

    def __init__(self, username: str, address: str, *, now: float | None = None):
        self.username = username
        self.now = time.time() if now is None else now
        self.window = settings.LOGIN_FAILURE_WINDOW
        # A window opens at the first failure and lasts LOGIN_FAILURE_WINDOW seconds (no fixed
        # clock boundaries that would reset a count between two guesses).
        self.account_key = _key("account", address, username.strip().casefold())
        address_key = _key("address", address)
        self.limits = {self.account_key: settings.LOGIN_FAILURES_PER_ACCOUNT, address_key: settings.LOGIN_FAILURES_PER_ADDRESS}

    def wait(self) -> int:
        """Seconds until sign-ins are allowed again from here for this username; 0 when they are."""
        values = cache.get_many([*self.limits, *(f"{key}:since" for key in self.limits)])
        blocked = [key for key, limit in self.limits.items() if values.get(key, 0) >= limit]
        if not blocked:
            return 0
        return max(1, math.ceil(max(values.get(f"{key}:since", self.now) + self.window - self.now for key in blocked)))

    def succeeded(self) -> None:
        # The address's count stays: one address guessing at many accounts is still guessing.
        cache.delete_many([self.account_key, f"{self.account_key}:since"])

    def failed(self) -> None:
        for key in self.limits:
            if cache.add(f"{key}:since", self.now, timeout=self.window):
                cache.set(key, 1, timeout=self.window)  # the first failure of a new window
                continue
            try:
                cache.incr(key)
            except ValueError:  # the count expired just now
                cache.set(key, 1, timeout=self.window)


def _key(kind: str, *parts: str) -> str:
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    return f"login-failures:{kind}:{digest}"


def too_many_sign_ins(wait: int) -> HttpResponse:
    minutes = max(1, math.ceil(wait / 60))
    message = ngettext(
        "Too many failed sign-in attempts. Try again in %(minutes)d minute.",
        "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
    response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(wait)
    return response


class LoginThrottleMiddleware:
    """Refuses sign-ins from an address (for a username) with too many recent failures, and counts
    the failures. A sign-in succeeded when the page redirects with that user signed in."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        attempt = getattr(request, "login_attempt", None)
        if attempt is not None:
            user = request.user
            if response.status_code == 302 and user.is_authenticated and user.get_username() == attempt.username:
                attempt.succeeded()
            else:
                attempt.failed()
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method != "POST" or request.resolver_match.view_name not in LOGIN_VIEWS:
            return None
        attempt = LoginAttempt(request.POST.get("username", ""), client_address(request))
        wait = attempt.wait()
        if wait:
            return too_many_sign_ins(wait)
        request.login_attempt = attempt
        return None
