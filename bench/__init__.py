"""Benchmarks: each module prints its figures as JSON. See bench/RESULTS.md."""
