"""APScheduler jobs (billing cycles, auto-suspension, reminders) and the outbox dispatcher."""
