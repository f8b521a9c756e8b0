"""The search's clock: the budget, the time left, and the deadlines handed to each phase."""

from __future__ import annotations

import time

__all__ = ["Clock"]


class Clock:
    """Seconds since the search started and seconds left of ``budget``, on the monotonic clock.

    Parameters
    ----------
    budget : float
        Seconds.

    Examples
    --------
    >>> clock = Clock(60.0)
    >>> 59.0 < clock.left() <= 60.0, clock.fits(30.0), clock.fits(90.0)
    (True, True, False)
    """

    def __init__(self, budget):
        self.budget, self.start = float(budget), time.monotonic()

    def elapsed(self):
        return time.monotonic() - self.start

    def left(self, reserve=0.0):
        """Seconds left, less ``reserve``."""
        return self.budget - self.elapsed() - reserve

    def fits(self, seconds, reserve=0.0):
        """Whether work of about ``seconds`` ends before the budget, less ``reserve``."""
        return seconds <= self.left(reserve)
