"""Fault injection, latency and call counting for the WS endpoint (thread-safe)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("http500", "http502", "http503", "http429", "hang", "html200", "truncated", "malformed", "reset")


class FaultError(ValueError):
    """A fault specification that cannot be applied."""


@dataclass
class Fault:
    """One fault rule: fires for the next `count` matching calls, or with `probability` (seeded)."""

    kind: str
    count: int | None = None
    probability: float | None = None
    seed: int | None = None
    retry_after: int = 1
    hang_seconds: float = 30.0
    functions: frozenset[str] | None = None
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise FaultError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if (self.count is None) == (self.probability is None):
            raise FaultError("give exactly one of count (next N calls) or probability")
        if self.count is not None and self.count < 1:
            raise FaultError("count must be >= 1")
        if self.probability is not None and not 0.0 < self.probability <= 1.0:
            raise FaultError("probability must be in (0, 1]")
        if self.retry_after < 0 or self.hang_seconds < 0:
            raise FaultError("retry_after and hang_seconds must be >= 0")
        self._rng = random.Random(self.seed)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "probability": self.probability, "seed": self.seed,
                "retry_after": self.retry_after, "hang_seconds": self.hang_seconds,
                "functions": sorted(self.functions) if self.functions else None}


class Controls:
    """Shared mutable state of one running emulator: counters, latency, faults."""

    def __init__(self, latency_ms: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._faults: list[Fault] = []
        self.latency_ms = float(latency_ms)
        self.function_latency_ms: dict[str, float] = {}
        # Set by stop() so hanging requests end promptly.
        self.released = threading.Event()

    # --- calls
    def count(self, function: str) -> None:
        with self._lock:
            self._calls[function] += 1

    def calls(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def total_calls(self) -> int:
        with self._lock:
            return sum(self._calls.values())

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    # --- latency
    def set_latency(self, ms: float, function: str | None = None) -> None:
        if ms < 0:
            raise FaultError("latency must be >= 0 ms")
        with self._lock:
            if function:
                self.function_latency_ms[function] = float(ms)
            else:
                self.latency_ms = float(ms)

    def latency_for(self, function: str) -> float:
        with self._lock:
            return self.function_latency_ms.get(function, self.latency_ms)

    # --- faults
    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_json() for f in self._faults]

    def next_fault(self, function: str) -> Fault | None:
        """The fault to apply to this call, consuming one use of a counted fault."""
        with self._lock:
            for fault in list(self._faults):
                if fault.functions and function not in fault.functions:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
                if fault._rng.random() < (fault.probability or 0.0):
                    return fault
            return None
