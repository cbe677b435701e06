"""Tests of the scheduler process and the outbox dispatcher against real FreeRADIUS and a simulated NAS."""
