"""What a call cost, component by component, from the price table.

Usage is priced with the newest ``Price`` row in effect on the call's day (the organization's own
row before the list price; a model-specific row before the provider's catch-all). A component that
was used but has no price, or is priced in another currency, leaves the call unpriced with the
reason spelled out: a missing price is never read as free.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Q

from analytics.models import Price

COMPONENTS = ("stt", "llm", "tts", "telephony")
QUANT = Decimal("0.000001")
PER_UNIT = {
    Price.Unit.MILLION_TOKENS: Decimal(1_000_000),
    Price.Unit.MILLION_CHARACTERS: Decimal(1_000_000),
    Price.Unit.MINUTE: Decimal(60),
}


@dataclass
class Usage:
    """What one call consumed, and from whom."""

    llm: tuple[str, str] = ("flow", "")
    llm_input_tokens: int = 0
    llm_output_tokens: int = 0
    stt: tuple[str, str] = ("", "")
    stt_seconds: float = 0.0
    tts: tuple[str, str] = ("", "")
    tts_characters: int = 0
    tts_seconds: float = 0.0
    telephony: tuple[str, str] = ("livekit", "sip")
    telephony_seconds: float = 0.0


@dataclass
class Cost:
    currency: str
    parts: dict[str, Decimal | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    version: str = ""

    @property
    def priced(self) -> bool:
        return not self.problems

    @property
    def known_total(self) -> Decimal:
        """The sum of the components that have a price (what a budget can count on)."""
        return sum((part for part in self.parts.values() if part is not None), Decimal(0))

    @property
    def total(self) -> Decimal | None:
        return self.known_total if self.priced else None


class PriceBook:
    """The prices in effect for one organization on one day."""

    def __init__(self, organization_id: int | None, day: dt.date, currency: str | None = None):
        self.currency = currency or settings.NEWVOICE_CURRENCY
        self.day = day
        rows = Price.objects.filter(Q(organization_id=organization_id) | Q(organization=None), effective_from__lte=day)
        self._rows: dict[tuple[str, str, str], Price] = {}
        # Newest first (the later row of one day); the organization's own row wins over the list price of any date.
        for row in sorted(rows, key=lambda r: (r.organization_id is not None, r.effective_from, r.pk), reverse=True):
            self._rows.setdefault((row.component, row.provider, row.model), row)

    def find(self, component: str, provider: str, model: str) -> Price | None:
        return self._rows.get((component, provider, model)) or self._rows.get((component, provider, ""))

    def price(self, usage: Usage) -> Cost:
        cost = Cost(self.currency)
        used: list[Price] = []

        def charge(component: str, who: tuple[str, str], quantity: float, unit: str, label: str) -> Decimal | None:
            if not quantity:
                return Decimal(0)
            provider, model = who
            row = self.find(component, provider, model)
            name = f"{provider}/{model}" if model else provider
            if row is None:
                cost.problems.append(f"No price for {label} {name} on {self.day.isoformat()}.")
                return None
            if row.currency != self.currency:
                cost.problems.append(f"The price for {label} {name} is in {row.currency}, calls are counted in {self.currency}.")
                return None
            if row.unit != unit and not (unit == "seconds" and row.unit == Price.Unit.MINUTE):
                cost.problems.append(f"The price for {label} {name} is {row.get_unit_display()}, which this usage is not measured in.")
                return None
            used.append(row)
            return row.amount * Decimal(str(quantity)) / PER_UNIT[row.unit]

        llm_in = charge("llm_input", usage.llm, usage.llm_input_tokens, Price.Unit.MILLION_TOKENS, "LLM input")
        llm_out = charge("llm_output", usage.llm, usage.llm_output_tokens, Price.Unit.MILLION_TOKENS, "LLM output")
        cost.parts["llm"] = None if llm_in is None or llm_out is None else llm_in + llm_out
        cost.parts["stt"] = charge("stt", usage.stt, usage.stt_seconds, "seconds", "speech-to-text")
        tts_row = self.find("tts", *usage.tts) if usage.tts_characters or usage.tts_seconds else None
        if tts_row is not None and tts_row.unit == Price.Unit.MINUTE:
            cost.parts["tts"] = charge("tts", usage.tts, usage.tts_seconds, "seconds", "text-to-speech")
        else:
            cost.parts["tts"] = charge("tts", usage.tts, usage.tts_characters, Price.Unit.MILLION_CHARACTERS, "text-to-speech")
        cost.parts["telephony"] = charge("telephony", usage.telephony, usage.telephony_seconds, "seconds", "telephony")
        cost.parts = {name: (None if part is None else part.quantize(QUANT)) for name, part in cost.parts.items()}
        if used:
            cost.version = max(row.effective_from for row in used).isoformat()
        return cost
