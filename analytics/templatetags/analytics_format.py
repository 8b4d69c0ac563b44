"""How the analytics pages write money, durations and offsets."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def money(value) -> str:
    """A cost to 4 decimals (a call costs fractions of a cent): 0.0123, 1.5000. None stays empty: an
    unknown cost is never written as 0."""
    if value is None or value == "":
        return ""
    return f"{Decimal(value).quantize(Decimal('0.0001')):f}"


@register.filter
def step_name(value) -> str:
    """A step's id as words: ``callback_when`` → "callback when"."""
    return str(value or "").replace("_", " ")


@register.filter
def ms(value) -> str:
    if value is None or value == "":
        return "—"
    return _("%(value)s ms") % {"value": f"{float(value):,.0f}"}


@register.filter
def seconds(value) -> str:
    if value is None or value == "":
        return "—"
    return _("%(value)s s") % {"value": f"{float(value):,.1f}"}


@register.filter
def offset(value) -> str:
    """Milliseconds into the call as minutes:seconds.tenths, e.g. 1:07.4."""
    if value is None or value == "":
        return ""
    minutes, tenths = divmod((int(value) + 50) // 100, 600)
    return f"{minutes}:{tenths / 10:04.1f}"


@register.filter
def percent(value) -> str:
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.0f}%"
