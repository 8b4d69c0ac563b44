"""What a conversation has established so far. Tools change it; the flow engine reads it."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ConversationState:
    step: str
    steps_reached: list[str] = field(default_factory=list)
    collected: dict[str, Any] = field(default_factory=dict)  # machine values (ISO datetimes, numbers, text)
    shown: dict[str, str] = field(default_factory=dict)  # the same values as the bot says them
    outcome: str = ""
    callback_at: dt.datetime | None = None
    opted_out: bool = False
    voicemail: bool = False
    ended: bool = False
    # The flow engine's own bookkeeping.
    turns: int = 0
    misses: int = 0
    pending_callback: bool = False
    silences: int = 0  # silent turns in a row
    offer: dict[str, str] | None = None  # a time the bot offered instead of one it could not take
    pending_human: bool = False  # the bot offered a person's call back and awaits the answer
    greeting_unheard: bool = False  # the callee spoke over the greeting before a word of it played
    started: float = field(default_factory=time.monotonic)

    def enter(self, step: str) -> None:
        self.step = step
        self.steps_reached.append(step)
        self.misses = 0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started
