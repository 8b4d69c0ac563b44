"""The audit log's doors: ``AuditEntry.objects.record`` writes one entry for a change, in the change's
transaction, and takes where it came from from here.

The model methods and actions that make the audited changes (skillbase versions, campaign
transitions, do-not-call entries, tokens, memberships) call ``record`` themselves, so the admin, the
API and the commands are covered alike; their callers only pass the acting user along. Where the
change came from (admin, API, a command) and the client's address are taken from the door it came
through: ``AuditMiddleware`` for web requests, ``door()`` for commands. A change with neither an
actor nor a door is the system's own (safety rails, the reaper, a callee opting out).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from rest_framework.throttling import BaseThrottle

# Where a change came from: the values of ``AuditEntry.Source``.
ADMIN, API, COMMAND, SYSTEM = "admin", "api", "command", "system"
# Never written to the log, whatever a caller passes: a token's secret, its digest and lookup key.
SECRET_KEYS = frozenset({"token", "secret", "digest", "token_key", "password"})


@dataclass(frozen=True)
class Door:
    source: str
    ip: str | None = None


_door: ContextVar[Door | None] = ContextVar("audit_door", default=None)


@contextlib.contextmanager
def door(source: str, *, ip: str | None = None) -> Iterator[None]:
    """Changes recorded inside come from ``source`` (an ``AuditEntry.Source``) and ``ip``."""
    token = _door.set(Door(source, ip))
    try:
        yield
    finally:
        _door.reset(token)


def current_door() -> Door | None:
    """The door the changes being made now came through, if a request or command set one."""
    return _door.get()


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose value differs, as (before, after)."""
    changed = [key for key in after if before.get(key) != after[key]]
    return {key: before.get(key) for key in changed}, {key: after[key] for key in changed}


def without_secrets(values: dict[str, Any] | None) -> dict[str, Any]:
    return {key: value for key, value in (values or {}).items() if key not in SECRET_KEYS}


def client_ip(request) -> str | None:
    """The client's address as DRF's throttles see it (``REST_FRAMEWORK["NUM_PROXIES"]``)."""
    ident = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address(ident))
    except ValueError:
        return None


class AuditMiddleware:
    """Tags the changes made while handling a request with its door (admin or API) and address."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        source = ADMIN if request.path.startswith(reverse("admin:index")) else API
        with door(source, ip=client_ip(request)):
            return self.get_response(request)
