"""Benchmarks of AIRRA against the natural baseline of each measurement, in the same run.

Each module runs with one command, e.g. ``python -m bench.ack_latency``;
``--smoke`` runs it at a size that finishes in seconds, and ``--write``
updates its section of BENCHMARKS.md.
"""
