"""Reproducible benchmarks of the provider against its own SES emulator (``python -m bench``).

Each benchmark prints its figures as ratios measured within one run, so they stay meaningful on
a busy or slow machine; ``BENCHMARKS.md`` records the latest results. Not part of the test suite:
nothing here asserts, it measures and reports.
"""
