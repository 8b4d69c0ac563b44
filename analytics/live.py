"""Live call events: what the monitor's WebSockets receive as a call's events are committed."""

from __future__ import annotations


def publish(events) -> None:
    """Send committed ``CallLog`` rows to the watchers of their call and campaign."""
