"""Benchmarks for followup's send path; run them with ``make bench`` (``python -m bench``)."""
