"""What a skillbase may ask of the installation when it names a language-model provider: which
environment variable holds the key (only those an administrator listed), and where the key may be
sent (public https, or a host the administrator allowed). Checked when a configuration is saved or
loaded, through every door, and again, with the address resolved, just before a request is made."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

# Names that are never a provider's address, whatever they resolve to.
INTERNAL_NAMES = ("localhost", "metadata.google.internal", "metadata")


def key_env_problem(name: str) -> str:
    allowed = settings.NEWVOICE_PROVIDER_KEY_ENVS
    if name in allowed:
        return ""
    listed = ", ".join(allowed) or "none"
    return (
        f"'{name}' is not a provider key this installation allows (NEWVOICE_PROVIDER_KEY_ENVS lists {listed}); "
        "ask an administrator to add it."
    )


def _allowed(host: str, addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    for entry in settings.NEWVOICE_PROVIDER_HOSTS_ALLOWED:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host:
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if addresses and all(address in network for address in addresses):
            return True
    return False


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def url_problem(url: str, *, resolve: bool = False) -> str:
    """Why the key must not be sent to ``url`` ("" when it may). ``resolve`` also checks every
    address the name resolves to now (a public name may point at an internal address)."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("http", "https") or not host:
        return f"'{url}' is not a web address."
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = []
        if resolve:
            try:
                addresses = [ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(host, parts.port or 443)]
            except (OSError, ValueError):
                addresses = []  # nothing to reach: the request fails without sending anything
    if _allowed(host, addresses):
        return ""
    if parts.scheme != "https":
        return f"Use https for '{url}': a provider key is never sent in plain http (NEWVOICE_PROVIDER_HOSTS_ALLOWED can allow a host)."
    if host in INTERNAL_NAMES or host.endswith((".localhost", ".internal")) or any(_internal(a) for a in addresses):
        return (
            f"'{url}' points at a private, loopback, link-local or metadata address; provider keys are only sent to public "
            "addresses unless NEWVOICE_PROVIDER_HOSTS_ALLOWED lists the host."
        )
    return ""


def check_before_sending(url: str) -> None:
    """Raise ValueError when a key must not go to ``url`` now (the name resolved as of this moment)."""
    problem = url_problem(url, resolve=True)
    if problem:
        raise ValueError(problem)
