"""What one live-monitor watcher has been sent of a call's (or a campaign's) events, and what comes next.

Events reach a watcher in one of two ways:

* **push**: with a shared channel layer (Redis), ``campaigns.push.publish`` sends every committed batch to the
  groups ``call-<id>`` and ``campaign-<id>``, where one ``consumers.Relay`` per process receives it
  for all its watchers; the watcher also checks the database now and then;
* **poll**: the in-memory layer reaches no other process (the embedded default runs the web server,
  the q2 cluster and the dialer as separate processes), so the watcher reads new rows from the
  database every half second.

Either way a ``Watch`` remembers the last ``seq`` it sent of every call. A call's events are
numbered 1, 2, 3… in commit order (``CallLogQuerySet.append_many``), and within a call a later
number always has a higher id; so a repeat is recognised and dropped, and a gap (a push dropped by a
full channel, a row committed after one with a higher id) is filled from the database before
anything later of that call is sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs

from django.db.models import Max, Q
from django.utils import timezone

from analytics.counters import campaign_counts, counters
from analytics.seen_ids import SeenIds
from campaigns.models import Call, CallLog, Campaign
from campaigns.push import call_group, call_json, campaign_group, event_json

POLL_SECONDS = 0.5  # how often a watcher without a shared layer reads the database
RECONCILE_SECONDS = 5.0  # how often a pushed-to watcher still checks the database for what a push lost
# A poll re-reads ids it has already passed for this long: a row whose transaction committed after
# one with a higher id (PostgreSQL hands out ids before commit) is still found.
LOOKBACK_SECONDS = 3.0
RESUME_LIMIT = 5000  # a watcher further behind than this many events gets a fresh snapshot instead
LIFECYCLE_KINDS = frozenset({"call_started", "answered", "call_ended"})


def parse_after(query_string: bytes) -> int | None:
    """The ``after`` event id of a WebSocket's query string; None without one; ValueError if it is not an id."""
    values = parse_qs(query_string.decode("latin-1")).get("after")
    if not values or values[-1] == "":
        return None
    after = int(values[-1])
    if after < 0:
        raise ValueError(after)
    return after


@dataclass
class Watch:
    """What one watcher (a WebSocket on a call or on a campaign) has been sent, and what comes next.

    Methods that read the database are synchronous (the consumer runs them in a thread); ``take``,
    the path of every pushed batch, reads nothing unless there is a gap to fill.
    """

    call_id: int | None = None
    campaign_id: int | None = None
    after: int | None = None  # the client resumes after this event id
    last_seq: dict[int, int] = field(default_factory=dict)  # per call: the last seq sent (or that the client has)
    snapshot_top: int = 0  # the highest event id when the snapshot was read
    seen: SeenIds = field(default_factory=lambda: SeenIds(lookback=LOOKBACK_SECONDS))
    dirty: bool = False  # a call started or ended since the counters were last sent
    dirty_at: float = 0.0  # when (monotonic) the last such event was sent: counters must be read after it
    sent_counters: dict | None = None

    def groups(self) -> list[str]:
        return [call_group(self.call_id)] if self.call_id else [campaign_group(self.campaign_id)]

    def _logs(self):
        return CallLog.objects.filter(call_id=self.call_id) if self.call_id else CallLog.objects.filter(campaign_id=self.campaign_id)

    # The snapshot

    def snapshot(self) -> dict:
        """The call's (or the campaign's live calls') state and events so far; with ``after``, only the
        events after it, unless more than ``RESUME_LIMIT`` have happened since (then ``resumed`` is
        false and the client starts over)."""
        logs = self._logs()
        self.snapshot_top = logs.aggregate(top=Max("pk"))["top"] or 0
        since = self.after
        if since is not None and logs.filter(pk__gt=since)[: RESUME_LIMIT + 1].count() > RESUME_LIMIT:
            since = self.after = None
        # Start the polls a little behind: rows of this scope whose transaction had not committed yet
        # when the snapshot was read have ids below its top.
        before = timezone.now() - timedelta(seconds=LOOKBACK_SECONDS)
        floor = logs.filter(created_at__lt=before).order_by("-pk").values_list("pk", flat=True).first() or 0
        self.seen.start(top=self.snapshot_top, floor=max(floor, since or 0))
        if self.call_id:
            call = Call.objects.select_related("task").get(pk=self.call_id)
            calls = [call]
        else:
            campaign = Campaign.objects.get(pk=self.campaign_id)
            shown = Q(pk__in=Call.objects.filter(campaign=campaign).live().values("pk"))
            if since is not None:  # and the calls that have anything new, live or not
                shown |= Q(pk__in=logs.filter(pk__gt=since).values("call_id"))
            calls = list(Call.objects.filter(shown).select_related("task").order_by("pk"))
        events = self._events_of([c.pk for c in calls], since)
        body = []
        for call in calls:
            mine = [event_json(log) for log in events.get(call.pk, [])]
            for event in mine:
                self._sent(event, counts=False)
            body.append({**call_json(call), "events": mine})
        message = {"type": "snapshot", "last_event": self.snapshot_top, "resumed": since is not None}
        if self.call_id:
            return {**message, "call": {k: v for k, v in body[0].items() if k != "events"}, "events": body[0]["events"]}
        self.dirty, self.sent_counters = False, counters(campaign_counts(self.campaign_id))
        return {
            **message,
            "campaign": {"id": campaign.pk, "name": campaign.name, "status": campaign.status},
            "counters": self.sent_counters,
            "calls": body,
        }

    def _events_of(self, call_ids: list[int], since: int | None) -> dict[int, list]:
        self.last_seq.update(dict.fromkeys(call_ids, 0))
        if since is not None:  # what the client has already: everything up to ``since``
            had = CallLog.objects.filter(call_id__in=call_ids, pk__lte=since).order_by().values_list("call_id").annotate(top=Max("seq"))
            self.last_seq.update(dict(had))
        rows = CallLog.objects.filter(call_id__in=call_ids).order_by("pk")
        if since is not None:
            rows = rows.filter(pk__gt=since)
        events: dict[int, list] = {}
        for log in rows:
            events.setdefault(log.call_id, []).append(log)
        return events

    # New events

    def take(self, batch: dict) -> list[dict] | None:
        """The messages to send for a pushed batch, or None when the database must be read first:
        a gap before it, or a call met in the middle of its events."""
        expected: dict[int, int] = {}
        for event in batch["events"]:
            call = event["call"]
            last = expected.get(call, self.last_seq.get(call))
            if last is None:
                if event["seq"] != 1 or (self.after is not None and event["id"] <= self.after):
                    return None
                last = 0
            if event["seq"] > last + 1:
                return None
            expected[call] = max(last, event["seq"])
        out = []
        for event in batch["events"]:
            if event["call"] not in self.last_seq:
                self.last_seq[event["call"]] = 0
                out.append({"type": "call", "call": batch["call"]})
            if event["seq"] > self.last_seq[event["call"]]:
                self._sent(event)
                out.append(event)
        return out

    def fill(self, batch: dict) -> list[dict]:
        """A pushed batch that ``take`` refused: read its calls' missing events from the database."""
        for event in batch["events"]:
            self.seen.saw(event["id"])
        return self._read({event["call"] for event in batch["events"]})

    def catch_up(self, *, every: float) -> list[dict]:
        """Whatever was committed and not sent yet: the poll, and a pushed watcher's safety net, run
        ``every`` so many seconds. A call's own events are found by their numbers; a campaign's by
        id, re-reading the ids seen in the last ``every + LOOKBACK_SECONDS`` seconds."""
        if self.call_id:
            return self._read({self.call_id})
        tops = (
            self._logs()
            .filter(pk__gt=self.seen.floor_after(every + LOOKBACK_SECONDS))
            .order_by()
            .values_list("call_id")
            .annotate(top=Max("seq"), top_id=Max("pk"))
        )
        behind = set()
        for call, top, top_id in tops:
            self.seen.saw(top_id)
            if top > self.last_seq.get(call, 0):
                behind.add(call)
        return self._read(behind)

    def _read(self, call_ids: set[int]) -> list[dict]:
        if not call_ids:
            return []
        met = self._meet([call for call in call_ids if call not in self.last_seq])
        newer = Q()
        for call in call_ids:
            newer |= Q(call_id=call, seq__gt=self.last_seq[call])
        out = []
        for log in CallLog.objects.filter(newer).order_by("pk"):
            if log.call_id in met:
                out.append({"type": "call", "call": met.pop(log.call_id)})
            event = event_json(log)
            if event["seq"] > self.last_seq[log.call_id]:
                self._sent(event)
                out.append(event)
        return out

    def _meet(self, call_ids: list[int]) -> dict[int, dict]:
        """Calls the watcher has not seen yet: what the client already has of each, and their state.

        A resuming client has everything up to ``after``. Otherwise a call that has ended is one the
        client chose not to see (it ended before the snapshot): only what follows the snapshot is
        new. A live one started after the snapshot: all of it is new."""
        if not call_ids:
            return {}
        calls = {call.pk: call for call in Call.objects.filter(pk__in=call_ids).select_related("task")}
        self.last_seq.update(dict.fromkeys(call_ids, 0))
        for call_id in call_ids:
            call = calls.get(call_id)
            upto = self.after if self.after is not None else self.snapshot_top if call is None or not call.is_live else None
            if upto is not None:
                had = CallLog.objects.filter(call_id=call_id, pk__lte=upto).aggregate(top=Max("seq"))["top"]
                self.last_seq[call_id] = had or 0
        return {pk: call_json(call) for pk, call in calls.items()}

    def _sent(self, event: dict, *, counts: bool = True) -> None:
        self.last_seq[event["call"]] = event["seq"]
        self.seen.saw(event["id"])
        if counts and event["kind"] in LIFECYCLE_KINDS:
            self.dirty, self.dirty_at = True, time.monotonic()

    # Campaign counters

    def counters_update(self, counts: dict) -> dict | None:
        """The counters if they changed since last sent, else None."""
        self.dirty = False
        sent = counters(counts)
        if sent == self.sent_counters:
            return None
        self.sent_counters = sent
        return sent
