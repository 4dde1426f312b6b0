"""Where evaluations run: ``local`` (process pool, default); a Celery executor slots in beside it."""
