"""Tests of radbill.services write paths against a real Postgres."""
