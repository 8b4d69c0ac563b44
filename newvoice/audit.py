"""The audit log: ``record`` writes one ``AuditEntry`` for a change, in the change's transaction.

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

from django.db import models
from django.urls import reverse
from rest_framework.throttling import BaseThrottle

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


def record(
    action: str,
    obj: models.Model | None = None,
    *,
    actor=None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    source: str | None = None,
    organization_id: int | None = None,
    subject_user=None,
    object_type: str = "",
    object_repr: str | None = None,
):
    """Write one audit entry for ``action`` on ``obj``. Call it inside the change's transaction,
    before a deletion (the object still has its id)."""
    from newvoice.models import AuditEntry

    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    current = _door.get()
    if source is None:
        source = current.source if current else AuditEntry.Source.COMMAND if actor else AuditEntry.Source.SYSTEM
    if organization_id is None and obj is not None:
        organization_id = getattr(obj, "organization_id", None)
    return AuditEntry.objects.create(
        organization_id=organization_id,
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        subject_user=subject_user,
        action=action,
        object_type=object_type or (obj._meta.label_lower if obj is not None else ""),
        object_id="" if obj is None or obj.pk is None else str(obj.pk),
        object_repr=(str(obj) if object_repr is None and obj is not None else object_repr or "")[:200],
        before=_without_secrets(before),
        after=_without_secrets(after),
        reason=str(reason)[:500],
        source=source,
        ip=current.ip if current and current.source == source else None,
    )


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose value differs, as (before, after)."""
    changed = [key for key in after if before.get(key) != after[key]]
    return {key: before.get(key) for key in changed}, {key: after[key] for key in changed}


def _without_secrets(values: dict[str, Any] | None) -> dict[str, Any]:
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
        from newvoice.models import AuditEntry

        source = AuditEntry.Source.ADMIN if request.path.startswith(reverse("admin:index")) else AuditEntry.Source.API
        with door(source, ip=client_ip(request)):
            return self.get_response(request)
