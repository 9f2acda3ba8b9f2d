"""Cron schedules: the pure core (cron arithmetic, catch-up); registry and service to come."""
