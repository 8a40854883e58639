"""Public ids: time-ordered, and within a process strictly increasing (publish order)."""

from __future__ import annotations

import time

from platform_core import ids


def test_ids_made_in_a_burst_only_grow_and_never_repeat():
    made = [ids.new_event_id() for _ in range(20_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(len(i) == len("msg_") + 27 for i in made)


def test_ids_keep_growing_when_the_clock_steps_back(monkeypatch):
    first = ids.new_event_id()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 3600)
    later = [ids.new_event_id() for _ in range(100)]
    assert [first, *later] == sorted([first, *later])
