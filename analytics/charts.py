"""Charts as inline SVG, drawn on the server: no JavaScript, no chart library, nothing from a CDN.

Every mark carries a ``<title>``, which the browser shows as a tooltip, with its exact figure. Sizes
are in the SVG's own units and the SVG scales to the width of its box; colours of text and grid
come from the admin's CSS variables, so the charts follow its light and dark themes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 14, 34  # room for the value axis and the category labels
MAX_LABELS = 12  # category labels written under the bars; the rest stay in the tooltips
CHAR_WIDTH = 8.5  # of a label's character at the stylesheet's 15px, in the SVG's units
FUNNEL_ROW, FUNNEL_LABEL = 36, 190


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: Sequence[float]
    notes: Sequence[str] = ()  # per bar, added to its tooltip


def _number(value: float) -> str:
    return f"{value:g}"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value``: round figures on the value axis."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if value <= step * power * (1 + 1e-9))


def _xy(value: float) -> str:
    return f"{value:.1f}"


def _svg(title: str, height: float, parts: list[SafeString], css_class: str) -> SafeString:
    head = format_html(
        '<svg class="chart {}" viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>',
        css_class,
        WIDTH,
        _xy(height),
        title,
        title,
    )
    return mark_safe(head + "".join(parts) + "</svg>")  # every part is built with format_html


def _value_axis(top: float, plot_height: float, fmt: Callable[[float], str]) -> list[SafeString]:
    parts = []
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_height - plot_height * i / 4
        parts.append(format_html('<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"></line>', LEFT, _xy(y), WIDTH - RIGHT, _xy(y)))
        parts.append(format_html('<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>', LEFT - 6, _xy(y + 4), fmt(value)))
    return parts


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    fmt: Callable[[float], str] = _number,
    whole: bool = False,
    css_class: str = "",
) -> SafeString:
    """Vertical bars, one per label, the series stacked bottom up in the order given. ``whole``:
    the values are counts, and the value axis has whole numbers only."""
    count = len(labels)
    totals = [sum(s.values[i] for s in series) for i in range(count)]
    top = nice_ceiling(max(totals, default=0))
    if whole:
        top = math.ceil(top / 4) * 4
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(count, 1)
    bar_width = max(slot * 0.72, 1.0)
    # As many category labels as fit side by side; every bar keeps its label in its tooltip.
    room = max(int(plot_width // (max((len(label) for label in labels), default=1) * CHAR_WIDTH + 12)), 1)
    every = math.ceil(count / min(room, MAX_LABELS)) or 1
    parts = _value_axis(top, plot_height, fmt)
    for i, label in enumerate(labels):
        x = LEFT + i * slot + (slot - bar_width) / 2
        base = TOP + plot_height
        for s in series:
            value = s.values[i]
            if not value:
                continue
            height = value / top * plot_height
            base -= height
            note = f" ({s.notes[i]})" if i < len(s.notes) and s.notes[i] else ""
            tip = f"{label} · {s.name}: {fmt(value)}{note}" if len(series) > 1 else f"{label}: {fmt(value)}{note}"
            parts.append(
                format_html(
                    '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}" data-value="{}"><title>{}</title></rect>',
                    _xy(x),
                    _xy(base),
                    _xy(bar_width),
                    _xy(height),
                    s.color,
                    _number(value),
                    tip,
                )
            )
        if i % every == 0:
            parts.append(
                format_html(
                    '<text class="label" x="{}" y="{}" text-anchor="middle">{}</text>', _xy(x + bar_width / 2), _xy(HEIGHT - 12), label
                )
            )
    parts.append(
        format_html('<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>', LEFT, TOP + plot_height, WIDTH - RIGHT, TOP + plot_height)
    )
    return _svg(title, HEIGHT, parts, css_class)


def funnel_chart(rows: Sequence[tuple[str, int, str]], *, title: str, color: str, css_class: str = "") -> SafeString:
    """Horizontal bars, one per (label, count, note), the longest as wide as the chart allows."""
    widest = max((count for _label, count, _note in rows), default=0) or 1
    plot_width = WIDTH - FUNNEL_LABEL - RIGHT - 120  # room on the right for "1,234 (100%)"
    parts = []
    for i, (label, count, note) in enumerate(rows):
        y = TOP + i * FUNNEL_ROW
        width = max(count / widest * plot_width, 1.0)
        text = f"{count:,} ({note})" if note else f"{count:,}"
        parts.append(
            format_html(
                '<text class="label" x="{}" y="{}" text-anchor="end">{}<title>{}</title></text>',
                FUNNEL_LABEL - 8,
                _xy(y + FUNNEL_ROW / 2),
                Truncator(label).chars(24),
                label,
            )
        )
        parts.append(
            format_html(
                '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}" data-value="{}"><title>{}: {}</title></rect>',
                FUNNEL_LABEL,
                _xy(y + 6),
                _xy(width),
                FUNNEL_ROW - 12,
                color,
                count,
                label,
                text,
            )
        )
        parts.append(
            format_html('<text class="value" x="{}" y="{}">{}</text>', _xy(FUNNEL_LABEL + width + 6), _xy(y + FUNNEL_ROW / 2), text)
        )
    return _svg(title, TOP * 2 + len(rows) * FUNNEL_ROW, parts, css_class)
