"""How far a watcher's polls must read back: the highest event id it has seen, and the floor below
which every row has surely committed (the highest id seen ``lag`` seconds ago).

PostgreSQL hands out ids before commit, so a row may become visible after one with a higher id; a
poll that reads from the floor up, not from the top, still finds it.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class SeenIds:
    lookback: float  # seconds a row may take to commit after a row with a higher id
    top: int = 0  # the highest id seen
    floor: int = 0  # polls read ids above this
    marks: deque = field(default_factory=deque)  # (monotonic time, highest id seen then)

    def start(self, *, top: int, floor: int) -> None:
        self.top, self.floor = top, floor
        self.marks.clear()

    def saw(self, event_id: int) -> None:
        if event_id <= self.top:
            return
        self.top = event_id
        now = time.monotonic()
        if not self.marks or now - self.marks[-1][0] >= self.lookback / 10:
            self.marks.append((now, event_id))
        else:
            self.marks[-1] = (self.marks[-1][0], event_id)

    def floor_after(self, lag: float) -> int:
        """The highest id seen ``lag`` seconds ago (never lower than the floor so far)."""
        now = time.monotonic()
        while self.marks and now - self.marks[0][0] >= lag:
            self.floor = max(self.floor, self.marks.popleft()[1])
        return self.floor
