"""Exact and score intervals for proportions and rates: the ones to quote for small counts.

Bootstrap intervals collapse to a point at 0% or 100% (every resample has the same share), and
a fall evaluation often has 15 of 16 or 42 of 42. These intervals do not:

- ``clopper_pearson``: the exact binomial interval (never narrower than its nominal coverage);
  the headline for sensitivity and specificity counts.
- ``wilson``: the score interval, shorter and close to nominal; used where a share is averaged
  over many items (e.g. a label share per group).
- ``poisson_rate``: the exact (Garwood) interval of an event rate, e.g. false alarms per hour.

Each takes plain counts, so every figure can be checked by hand (tests/test_intervals.py).
"""

from __future__ import annotations

import math

from scipy import stats


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of ``successes / trials``; (nan, nan) when there are no trials."""
    _check(successes, trials, level)
    if trials == 0:
        return (math.nan, math.nan)
    alpha = 1 - level
    low = 0.0 if successes == 0 else float(
        stats.beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(
        stats.beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return (low, high)


def wilson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of ``successes / trials``; (nan, nan) when there are no trials."""
    _check(successes, trials, level)
    if trials == 0:
        return (math.nan, math.nan)
    z = float(stats.norm.ppf(0.5 + level / 2))
    share = successes / trials
    denom = 1 + z * z / trials
    centre = (share + z * z / (2 * trials)) / denom
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def poisson_rate(events: int, exposure: float, level: float = 0.95) -> tuple[float, float]:
    """Exact interval of a rate ``events / exposure`` (e.g. per hour, exposure in hours)."""
    if events < 0 or not exposure > 0 or not 0 < level < 1:
        raise ValueError(f"need events >= 0, exposure > 0, 0 < level < 1; got {events}, "
                         f"{exposure}, {level}")
    alpha = 1 - level
    low = 0.0 if events == 0 else float(stats.chi2.ppf(alpha / 2, 2 * events)) / 2
    high = float(stats.chi2.ppf(1 - alpha / 2, 2 * events + 2)) / 2
    return (low / exposure, high / exposure)


def _check(successes: int, trials: int, level: float) -> None:
    if not 0 <= successes <= trials or not 0 < level < 1:
        raise ValueError(f"need 0 <= successes <= trials and 0 < level < 1; got {successes}, "
                         f"{trials}, {level}")
