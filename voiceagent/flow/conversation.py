"""What each agent tool does to a conversation, independent of LiveKit.

The agent's function tools call these methods; their return value is the tool output an LLM reads
(so it is written for an LLM: what happened and what to say next).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from skillbases.outcomes import FLOW_OUTCOMES, Outcome
from skillbases.schemas import SkillbaseConfig
from voiceagent.flow.engine import FlowEngine
from voiceagent.flow.fields import extract
from voiceagent.flow.render import say_datetime
from voiceagent.flow.state import ConversationState
from voiceagent.flow.when import parse_when


class ToolError(ValueError):
    """A tool was called with arguments that make no sense; the message tells the LLM why."""


class Conversation:
    def __init__(self, config: SkillbaseConfig, variables: dict[str, Any], *, timezone: str, now: dt.datetime | None = None):
        self.config = config
        self.timezone = timezone
        # A fixed "now" (a skillbase's test conversation runs on the day it names); None: the clock.
        self.now = now
        self.engine = FlowEngine(config, variables, timezone=timezone)
        self.state = ConversationState(step=config.flow.start, steps_reached=[config.flow.start])

    @property
    def language(self) -> str:
        return self.config.language

    def greeting(self) -> str:
        return self.engine.greeting(self.state)

    def greeting_not_heard(self) -> None:
        """The callee's «Алло?» cut the greeting off before a word played: if what they said next is
        not understood, the bot greets them rather than saying it did not catch that."""
        self.state.greeting_unheard = True

    def step_brief(self) -> str:
        """The current step, as an LLM needs it: what to say, what to collect, where it may go."""
        step = self.engine.steps[self.state.step]
        text, outcome = self.engine.speech(self.state)
        parts = [f"Current step: '{step.id}'.", f"Say (in your own words if needed): {text}" if text else ""]
        if step.instructions:
            parts.append(f"Instructions: {self.engine.render(step.instructions, self.state)}")
        if step.collect:
            parts.append("Collect: " + ", ".join(f"{c.field} ({c.type})" for c in step.collect) + " with record_field.")
        if step.transitions:
            parts.append("Next steps: " + "; ".join(f"if the callee means '{t.intent}' -> {t.goto}" for t in step.transitions))
        if outcome:
            parts.append(f"This is the last step: say it, then call end_call with outcome '{outcome}'.")
        return " ".join(p for p in parts if p)

    def reachable(self) -> list[str]:
        """Steps the conversation may move to now: the current step's targets, the fallback step,
        and any end step (opting out or asking for a callback can end the call from anywhere)."""
        current = self.engine.steps[self.state.step]
        targets = [t.goto for t in current.transitions] + [self.config.flow.fallback.step or ""]
        targets += [s.id for s in self.config.flow.steps if s.end]
        return list(dict.fromkeys(t for t in [self.state.step, *targets] if t))

    def goto_step(self, step: str) -> str:
        if step not in self.engine.steps:
            raise ToolError(f"There is no step '{step}'. Steps: {', '.join(self.engine.steps)}.")
        allowed = self.reachable()
        if step not in allowed:
            raise ToolError(f"Step '{step}' cannot follow '{self.state.step}'. Choose one of: {', '.join(allowed)}.")
        self.state.enter(step)
        target = self.engine.steps[step]
        if target.end:
            self.state.outcome = target.outcome or ""
        return self.step_brief()

    def record_field(self, field: str, value: str, *, now: dt.datetime | None = None) -> str:
        now = now or self.now
        wanted = next((c for s in self.config.flow.steps for c in s.collect if c.field == field), None)
        if wanted is None:
            raise ToolError(f"'{field}' is not a field this script collects.")
        parsed = extract(wanted.type, value, language=self.language, tz=self.timezone, now=now)
        if parsed is None:
            raise ToolError(f"Could not read a {wanted.type} from '{value}'. Ask the callee again.")
        problem = self.engine.time_problem(wanted, parsed[0], now=now)
        if problem == "past":
            raise ToolError(f"{parsed[1]} has already passed. Ask the callee for a later time.")
        if problem == "closed":
            hours = self.engine.hours
            nearest = hours.nearest(dt.datetime.fromisoformat(parsed[0]), now=now or dt.datetime.now(dt.UTC))
            offer = f" The nearest open time is {nearest.isoformat()}; offer it." if nearest else ""
            raise ToolError(f"The business is closed at {parsed[1]} ({hours.describe('en')}).{offer} Ask for a time within the hours.")
        self.state.collected[field], self.state.shown[field] = parsed
        return f"Recorded {field} = {parsed[1]}."

    def schedule_callback(self, when: str, *, now: dt.datetime | None = None) -> str:
        now = now or self.now
        moment = parse_when(when, language=self.language, tz=self.timezone, now=now)
        if moment is None:
            try:
                moment = dt.datetime.fromisoformat(when)
            except ValueError:
                raise ToolError(f"Could not tell a future time from '{when}'. Ask when to call back.") from None
        self.state.callback_at = moment
        # Scripts say the agreed time back as {callback_at}, however it was set.
        self.state.collected.setdefault("callback_at", moment.isoformat())
        self.state.shown.setdefault("callback_at", say_datetime(moment, self.language))
        self.state.outcome = Outcome.CALLBACK_REQUESTED
        self.state.pending_callback = False
        return f"Callback scheduled for {moment.isoformat()} ({self.timezone})."

    def opt_out(self) -> str:
        self.state.opted_out = True
        self.state.outcome = Outcome.OPTED_OUT
        return "The number is on the do-not-call list. Apologise briefly and end the call with outcome 'opted_out'."

    def handle_voicemail(self) -> str:
        """The message to leave (may be empty: hang up)."""
        self.state.voicemail = True
        self.state.outcome = Outcome.VOICEMAIL
        return self.engine.voicemail_message(self.state)

    def end_call(self, outcome: str) -> str:
        if outcome not in FLOW_OUTCOMES:
            raise ToolError(f"Unknown outcome '{outcome}'. Use one of: {', '.join(FLOW_OUTCOMES)}.")
        self.state.outcome = outcome
        self.state.ended = True
        return "The call is ending."
