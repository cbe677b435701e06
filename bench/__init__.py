"""Benchmarks (not tests): each prints its figures; run with `make bench-*`."""
