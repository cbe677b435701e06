"""Talking RADIUS as a NAS would (pyrad): `radbill radtest`, the tests and the benchmarks."""
