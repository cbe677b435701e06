"""The scheduler process (`python -m scheduler`): APScheduler jobs that are thin wrappers over radbill.services —
the outbox dispatcher (disconnect/CoA now; SMS and webhooks when their handlers register) and the billing jobs.

Every job runs under a Postgres advisory lock named after it, so any number of replicas run each job once.
"""
