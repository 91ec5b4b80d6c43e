"""Public holidays per jurisdiction, from the ``holidays`` package (years load on first use)."""

from __future__ import annotations

import threading
from collections.abc import Container
from datetime import date
from functools import lru_cache

import holidays as holidays_lib

_lock = threading.Lock()


class Calendar(Container[date]):
    """A thread-safe view of one country's (or subdivision's) public holidays."""

    def __init__(self, country: str, subdiv: str | None = None):
        self.country, self.subdiv = country, subdiv
        self._days = holidays_lib.country_holidays(country, subdiv=subdiv)

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        with _lock:  # membership may load a new year into the underlying dict
            return day in self._days

    def name(self, day: date) -> str | None:
        with _lock:
            found = self._days.get(day)
        return str(found) if found else None


@lru_cache(maxsize=128)
def calendar(country: str, subdiv: str | None = None) -> Calendar:
    return Calendar(country, subdiv)
