"""A flow drawn as a graph, in SVG on the server: steps as boxes, transitions as labelled arrows,
end steps coloured by their outcome, steps no call can reach or that can reach no end marked.

With ``FlowCounts`` (what calls did on a campaign or a skillbase version) each arrow says how many
calls took it, each step how many calls reached it, and where calls were lost — the funnel drawn
on the script itself. The flow may be one being edited and not valid yet (a missing step, a
transition to nowhere): whatever can be drawn is drawn, and the rest is said.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from skillbases.outcomes import OUTCOME_COLORS, Outcome

NODE_WIDTH, NODE_HEIGHT = 180, 62
COLUMN_GAP, ROW_GAP = 36, 84
MARGIN = 24
SIDE_LANE = 46  # room on the right for arrows that go back up
CHAR_WIDTH = 6.6  # of a 12px label character, in the SVG's units
PROBLEM_COLOR, PLAIN_COLOR = "#c62828", "#417690"


@dataclass
class FlowCounts:
    """What calls did: ``arrows[(from, to)]`` calls went from one step to the next, ``reached[step]``
    calls reached a step, ``lost[step]`` calls ended on a step that does not end the call."""

    calls: int = 0
    arrows: dict[tuple[str, str], int] = field(default_factory=dict)
    reached: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)

    def add_call(self, steps: Iterable[str], *, ended_on_end_step: bool) -> None:
        steps = list(steps)
        if not steps:  # never answered: nothing happened on the flow
            return
        self.calls += 1
        for step in dict.fromkeys(steps):
            self.reached[step] = self.reached.get(step, 0) + 1
        for pair in dict.fromkeys(zip(steps, steps[1:], strict=False)):
            self.arrows[pair] = self.arrows.get(pair, 0) + 1
        if steps and not ended_on_end_step:
            self.lost[steps[-1]] = self.lost.get(steps[-1], 0) + 1


@dataclass
class _Step:
    id: str
    say: str
    end: bool
    outcome: str
    targets: dict[str, list[str]]  # step id → the intents that lead there


@dataclass
class FlowShape:
    steps: list[_Step]
    start: str
    fallback: str
    unreachable: set[str]
    dead_ends: set[str]  # reachable, but no end step can be reached from them
    missing: set[str]  # named by a transition or as the start, but not a step


def shape_of(flow: dict[str, Any]) -> FlowShape:
    """The flow's steps and arrows, and what is wrong with its structure, from a flow section as
    stored or as being edited (not necessarily valid)."""
    steps: list[_Step] = []
    seen: set[str] = set()
    for raw in flow.get("steps") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"] or raw["id"] in seen:
            continue
        seen.add(raw["id"])
        targets: dict[str, list[str]] = {}
        for transition in raw.get("transitions") or []:
            if isinstance(transition, dict) and isinstance(transition.get("goto"), str):
                targets.setdefault(transition["goto"], []).append(str(transition.get("intent", "")))
        steps.append(_Step(raw["id"], str(raw.get("say") or raw.get("instructions") or ""), bool(raw.get("end")),
                           str(raw.get("outcome") or ""), targets))  # fmt: skip
    by_id = {s.id: s for s in steps}
    start = str(flow.get("start") or "")
    fallback = str((flow.get("fallback") or {}).get("step") or "")

    def edges(step: _Step) -> set[str]:
        out = {t for t in step.targets if t in by_id}
        if not step.end and fallback in by_id:
            out.add(fallback)
        return out

    reached = set()
    if start in by_id:
        reached, queue = {start}, deque([start])
        while queue:
            for target in edges(by_id[queue.popleft()]):
                if target not in reached:
                    reached.add(target)
                    queue.append(target)
    finishing = {s.id for s in steps if s.end}
    changed = True
    while changed:
        changed = False
        for s in steps:
            if s.id not in finishing and edges(s) & finishing:
                finishing.add(s.id)
                changed = True
    missing = {t for s in steps for t in s.targets if t not in by_id}
    if start and start not in by_id:
        missing.add(start)
    return FlowShape(
        steps=steps,
        start=start,
        fallback=fallback if fallback in by_id else "",
        unreachable={s.id for s in steps if s.id not in reached},
        dead_ends={s.id for s in steps if s.id in reached and s.id not in finishing},
        missing=missing,
    )


def _rows(shape: FlowShape) -> list[list[_Step]]:
    """Steps in rows, so most arrows point down; in a row, steps sit under the steps they come
    from. Steps no call reaches go in a last row."""
    by_id = {s.id: s for s in shape.steps}
    if shape.start not in by_id:
        return [shape.steps] if shape.steps else []
    # Steps that go on: by their shortest way from the start; end steps: below every step that
    # leads to them, where the arrows into them come down together.
    depth = {shape.start: 0}
    queue = deque([shape.start])
    while queue:
        node = queue.popleft()
        for target in by_id[node].targets:
            if target in by_id and target not in depth and not by_id[target].end:
                depth[target] = depth[node] + 1
                queue.append(target)
    for step in shape.steps:
        if step.end and any(step.id in p.targets for p in shape.steps if p.id in depth):
            above = [depth[p.id] for p in shape.steps if step.id in p.targets and p.id in depth]
            depth[step.id] = max(above, default=0) + 1
    rows: list[list[_Step]] = [[] for _ in range(max(depth.values()) + 1)]
    column: dict[str, float] = {}
    for r in range(len(rows)):
        members = [s for s in shape.steps if depth.get(s.id) == r]
        if r:
            members.sort(key=lambda step: _under(step, shape.steps, column))
        for i, step in enumerate(members):
            column[step.id] = i - (len(members) - 1) / 2
        rows[r] = members
    stranded = [s for s in shape.steps if s.id not in depth]
    return [row for row in rows if row] + ([stranded] if stranded else [])


def _under(step: _Step, steps: list[_Step], column: dict[str, float]) -> float:
    """Where in its row a step goes: under the middle of the steps placed above that lead to it."""
    xs = [column[p.id] for p in steps if step.id in p.targets and p.id in column]
    return sum(xs) / len(xs) if xs else float("inf")


def _label_box(x: float, y: float, text: str, color: str, css: str) -> SafeString:
    width = len(text) * CHAR_WIDTH + 8
    return format_html(
        '<g class="{}"><rect x="{}" y="{}" width="{}" height="16" rx="3" fill="var(--body-bg, #fff)" fill-opacity="0.92"/>'
        '<text x="{}" y="{}" text-anchor="middle" font-size="12" fill="{}">{}</text></g>',
        css, f"{x - width / 2:.1f}", f"{y - 11:.1f}", f"{width:.1f}", f"{x:.1f}", f"{y + 1:.1f}", color, text,
    )  # fmt: skip


def flow_graph(flow: dict[str, Any], *, counts: FlowCounts | None = None, title: str = "") -> SafeString:
    """The flow as an inline SVG (scales to its box; light and dark admin themes)."""
    shape = shape_of(flow)
    rows = _rows(shape)
    if not rows:
        return format_html('<p class="flow-graph-empty">{}</p>', _("The flow has no steps to draw yet."))
    columns = max(len(row) for row in rows)
    width = MARGIN * 2 + columns * NODE_WIDTH + (columns - 1) * COLUMN_GAP + SIDE_LANE
    height = MARGIN * 2 + len(rows) * NODE_HEIGHT + (len(rows) - 1) * ROW_GAP + 20
    place: dict[str, tuple[float, float, int]] = {}  # id → (x, y) of the box's top-left, row
    for r, row in enumerate(rows):
        offset = (columns - len(row)) * (NODE_WIDTH + COLUMN_GAP) / 2
        for c, step in enumerate(row):
            place[step.id] = (MARGIN + offset + c * (NODE_WIDTH + COLUMN_GAP), MARGIN + r * (NODE_HEIGHT + ROW_GAP), r)
    busiest = max(counts.arrows.values(), default=0) if counts else 0
    arrows, boxes = [], []
    back_lane = 0
    for step in shape.steps:
        for target, intents in step.targets.items():
            if target not in place:
                continue
            arrows.append(_arrow(step.id, target, intents, place, counts, busiest, width, back_lane))
            if place[target][2] <= place[step.id][2]:
                back_lane += 1
    for step in shape.steps:
        boxes.append(_box(step, shape, place[step.id], counts))
    legend = _legend(shape, counts)
    head = format_html(
        '<svg class="flow-graph" viewBox="0 0 {} {}" style="width: 100%; max-width: {}px; height: auto" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg">'
        "<title>{}</title><defs>"
        '<marker id="flow-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" '
        'orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>',
        f"{width:.0f}", f"{height:.0f}", f"{width:.0f}", title or _("The flow"), title or _("The flow"),
    )  # fmt: skip
    return mark_safe(head + "".join(arrows) + "".join(boxes) + "</svg>" + legend)  # every part built with format_html


def _arrow(source, target, intents, place, counts, busiest, width, lane) -> SafeString:
    x1, y1, r1 = place[source]
    x2, y2, r2 = place[target]
    taken = counts.arrows.get((source, target), 0) if counts else None
    label = ", ".join(dict.fromkeys(intents))
    if taken is not None:
        label = f"{label} · {taken}"
    stroke = 1.5 + (4.5 * taken / busiest if busiest and taken else 0)
    color = PLAIN_COLOR if taken is None or taken else "#9e9e9e"
    if r2 > r1:  # down to a later row
        sx, sy, tx, ty = x1 + NODE_WIDTH / 2, y1 + NODE_HEIGHT, x2 + NODE_WIDTH / 2, y2
        middle = (ty - sy) / 2
        path = f"M{sx:.1f},{sy:.1f} C{sx:.1f},{sy + middle:.1f} {tx:.1f},{ty - middle:.1f} {tx:.1f},{ty - 2:.1f}"
        lx, ly = (sx + tx) / 2, (sy + ty) / 2
    elif r2 == r1 and source != target:  # across the row: arched above going right, below going left
        right = x2 > x1
        sx, sy = (x1 + NODE_WIDTH, y1 + NODE_HEIGHT * 0.35) if right else (x1, y1 + NODE_HEIGHT * 0.65)
        tx, ty = (x2, y2 + NODE_HEIGHT * 0.35) if right else (x2 + NODE_WIDTH, y2 + NODE_HEIGHT * 0.65)
        lift = -22 - 6 * (lane % 3) if right else 22 + 6 * (lane % 3)
        path = f"M{sx:.1f},{sy:.1f} C{sx + (tx - sx) / 3:.1f},{sy + lift:.1f} {tx - (tx - sx) / 3:.1f},{ty + lift:.1f} {tx:.1f},{ty:.1f}"
        lx, ly = (sx + tx) / 2, sy + lift * 0.75
    elif source == target:  # back to itself
        sx, sy = x1 + NODE_WIDTH, y1 + NODE_HEIGHT * 0.3
        path = f"M{sx:.1f},{sy:.1f} C{sx + 40:.1f},{sy - 30:.1f} {sx + 40:.1f},{sy + 45:.1f} {sx + 2:.1f},{sy + 18:.1f}"
        lx, ly = sx + 30, sy - 14
    else:  # back up or across: round the right side, each in its own lane
        sx, sy, tx, ty = x1 + NODE_WIDTH, y1 + NODE_HEIGHT / 2, x2 + NODE_WIDTH, y2 + NODE_HEIGHT / 2
        bulge = min(width - 6, max(sx, tx) + 24 + 8 * (lane % 3))
        path = f"M{sx:.1f},{sy:.1f} C{bulge:.1f},{sy:.1f} {bulge:.1f},{ty:.1f} {tx + 2:.1f},{ty:.1f}"
        lx, ly = bulge - 10, (sy + ty) / 2
    tooltip = label if taken is None else ngettext("%(intent)s: %(n)d call", "%(intent)s: %(n)d calls", taken) % {
        "intent": ", ".join(dict.fromkeys(intents)), "n": taken}  # fmt: skip
    return format_html(
        '<g class="flow-arrow" data-from="{}" data-to="{}" data-calls="{}"><title>{} → {}: {}</title>'
        '<path d="{}" fill="none" stroke="{}" stroke-width="{}" marker-end="url(#flow-arrow)"/>{}</g>',
        source, target, "" if taken is None else taken, source, target, tooltip,
        path, color, f"{stroke:.1f}", _label_box(lx, ly, label, "var(--body-fg, #333)", "flow-arrow-label"),
    )  # fmt: skip


def _box(step: _Step, shape: FlowShape, position, counts: FlowCounts | None) -> SafeString:
    x, y, _row = position
    problems = []
    if step.id in shape.unreachable:
        problems.append(_("no call can reach it"))
    if step.id in shape.dead_ends:
        problems.append(_("no end can be reached from it"))
    missing = [t for t in step.targets if t in shape.missing]
    if missing:
        problems.append(_("goes to a missing step: %(steps)s") % {"steps": ", ".join(missing)})
    if step.end:
        fill = OUTCOME_COLORS.get(step.outcome, "#757575")
        css = "flow-step end"
    else:
        fill = "var(--body-bg, #fff)"
        css = "flow-step"
    if problems:
        css += " problem"
    border = PROBLEM_COLOR if problems else (fill if step.end else PLAIN_COLOR)
    text_color = "#fff" if step.end else "var(--body-fg, #333)"
    dash = ' stroke-dasharray="6 4"' if step.id in shape.unreachable else ""
    if step.end:
        label = Outcome(step.outcome).label if step.outcome in Outcome.values else step.outcome
        second = _("ends: %(outcome)s") % {"outcome": label}
    else:
        second = Truncator(step.say.replace("\n", " ")).chars(28)
    extra = ""
    if counts is not None:
        reached = counts.reached.get(step.id, 0)
        lost = counts.lost.get(step.id, 0)
        figure = ngettext("%(n)d call", "%(n)d calls", reached) % {"n": reached}
        if lost:
            figure += " · " + _("%(n)d lost") % {"n": lost}
        quiet = "#fff" if step.end else "var(--body-quiet-color, #666)"
        extra = format_html(
            '<text class="flow-step-calls" x="{}" y="{}" text-anchor="middle" font-size="11" font-weight="{}" fill="{}">{}</text>',
            f"{x + NODE_WIDTH / 2:.1f}", f"{y + 55:.1f}", "bold" if lost else "normal",
            PROBLEM_COLOR if lost and not step.end else quiet, figure,
        )  # fmt: skip
    start_mark = ""
    if step.id == shape.start:
        start_mark = format_html(
            '<text x="{}" y="{}" font-size="11" fill="var(--body-quiet-color, #666)">{}</text>', f"{x:.1f}", f"{y - 5:.1f}", _("start")
        )
    tooltip = step.say or step.id
    if problems:
        tooltip = f"{tooltip} — {'; '.join(problems)}"
    return format_html(
        '<g class="{}" data-step="{}"><title>{}</title>{}'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="8" fill="{}" stroke="{}" stroke-width="{}"{}/>'
        '<text x="{}" y="{}" text-anchor="middle" font-size="13" font-weight="bold" fill="{}">{}</text>'
        '<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="{}">{}</text>{}{}</g>',
        css, step.id, tooltip, start_mark,
        f"{x:.1f}", f"{y:.1f}", NODE_WIDTH, NODE_HEIGHT, fill, border, 3 if problems else 1.5, mark_safe(dash),
        f"{x + NODE_WIDTH / 2:.1f}", f"{y + 20:.1f}", text_color, Truncator(step.id).chars(22),
        f"{x + NODE_WIDTH / 2:.1f}", f"{y + 37:.1f}", text_color, second,
        _problem_note(problems, x, y), extra,
    )  # fmt: skip


def _problem_note(problems: list[str], x: float, y: float) -> SafeString:
    if not problems:
        return mark_safe("")
    return format_html(
        '<text class="flow-step-problem" x="{}" y="{}" font-size="11" fill="{}">⚠ {}</text>',
        f"{x:.1f}", f"{y + NODE_HEIGHT + 14:.1f}", PROBLEM_COLOR, Truncator("; ".join(problems)).chars(40),
    )  # fmt: skip


def _legend(shape: FlowShape, counts: FlowCounts | None) -> SafeString:
    notes = []
    if shape.missing:
        notes.append(_("Named but not a step: %(steps)s.") % {"steps": ", ".join(sorted(shape.missing))})
    if shape.fallback:
        notes.append(_("When nothing matches, after the retries every step goes to “%(step)s”.") % {"step": shape.fallback})
    if counts is not None:
        lost = sum(counts.lost.values())
        notes.append(
            ngettext("%(n)d call drawn", "%(n)d calls drawn", counts.calls) % {"n": counts.calls}
            + (("; " + ngettext("%(n)d lost before an end step", "%(n)d lost before an end step", lost) % {"n": lost}) if lost else "")
            + "."
        )
    return format_html('<p class="flow-graph-notes">{}</p>', " ".join(notes)) if notes else mark_safe("")
