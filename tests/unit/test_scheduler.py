"""The embedded scheduler keeps ticking when a run fails."""

from __future__ import annotations

import threading

import pytest

from ferry.services.scheduler import Ticker


def test_ticker_survives_a_failing_run_and_stops() -> None:
    runs: list[int] = []
    done = threading.Event()

    def job() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("first run fails")
        done.set()

    ticker = Ticker(job, 0.001).start()
    assert done.wait(30)
    ticker.stop()
    count = len(runs)
    assert count >= 2
    assert ticker._thread is None  # joined


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Ticker(lambda: None, 0)
