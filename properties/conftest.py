"""Hypothesis profiles for the property tests, chosen with $HYPOTHESIS_PROFILE (default "ci").

    python -m pytest -q                                         # "ci": bounded, < 2 min in all
    HYPOTHESIS_PROFILE=deep python -m pytest -q properties      # tens of thousands of steps
    HYPOTHESIS_PROFILE=dev python -m pytest -q properties       # a quick smoke run

No deadline anywhere: a guest run's duration depends on the machine, and a test must not fail
because it ran slowly.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "print_blob": True,
    # tree strategies filter names and draw many values per example; that is by design
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.filter_too_much],
}

settings.register_profile("ci", max_examples=100, stateful_step_count=30, **_COMMON)
settings.register_profile("dev", max_examples=10, stateful_step_count=15, **_COMMON)
settings.register_profile("deep", max_examples=1000, stateful_step_count=50, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
