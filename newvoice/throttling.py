"""Limits on guessing and on minting credentials: API tokens issued, and failed sign-ins.

Issuing tokens is a DRF throttle per user (``API_TOKEN_ISSUE_RATE``). Failed sign-ins at the admin's
and the browsable API's login pages are counted in the cache per username and address, and per
address alone; once either count reaches its limit, every sign-in there (the right password too) is
answered 429 until the window ends. Windows are fixed, so a burst across a window's edge can reach
twice the limit; that still turns a password guess from thousands a minute into a handful.

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
        start = int(self.now // self.window * self.window)
        self.ends = start + self.window
        self.account_key = _key("account", start, address, username.strip().casefold())
        address_key = _key("address", start, address)
        self.limits = {self.account_key: settings.LOGIN_FAILURES_PER_ACCOUNT, address_key: settings.LOGIN_FAILURES_PER_ADDRESS}

    def wait(self) -> int:
        """Seconds until sign-ins are allowed again from here for this username; 0 when they are."""
        counts = cache.get_many(list(self.limits))
        if any(counts.get(key, 0) >= limit for key, limit in self.limits.items()):
            return max(1, math.ceil(self.ends - self.now))
        return 0

    def succeeded(self) -> None:
        # The address's count stays: one address guessing at many accounts is still guessing.
        cache.delete(self.account_key)

    def failed(self) -> None:
        for key in self.limits:
            cache.add(key, 0, timeout=self.window + 1)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=self.window + 1)


def _key(kind: str, start: int, *parts: str) -> str:
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    return f"login-failures:{kind}:{start}:{digest}"


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
