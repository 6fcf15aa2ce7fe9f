"""Hypothesis profiles: `pytest --hypothesis-profile=fuzz` runs the CLI fuzz (tests/test_fuzz.py)
with many more examples than the README's test command (docs/inputs.md)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("fuzz", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
