"""The write paths: scoped load, pure decision, one transaction, outbox rows."""
