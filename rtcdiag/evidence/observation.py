"""One thing seen in a capture a number of times, with its first packets as evidence (bounded)."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_EXAMPLES = 20  # packet numbers kept as evidence per observation


@dataclass(slots=True)
class Observation:
    """Seen ``count`` times, first at ``first_time`` (``detail``: what the first one said), last at
    ``last_time``; ``numbers``: the first packets (as Wireshark numbers them), at most MAX_EXAMPLES."""

    count: int = 0
    numbers: list[int] = field(default_factory=list)
    first_time: float = 0.0
    last_time: float = 0.0
    detail: str = ""

    def add(self, number: int, time: float, detail: str = "") -> None:
        if not self.count:
            self.first_time = time
            self.detail = detail
        self.count += 1
        self.last_time = time
        if len(self.numbers) < MAX_EXAMPLES:
            self.numbers.append(number)
