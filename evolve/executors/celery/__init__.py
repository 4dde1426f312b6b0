"""Distributed evaluation on Celery + Redis: the shared app, worker tasks, the controller's executor."""
