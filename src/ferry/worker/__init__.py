"""The scale-out job runner: a Celery worker that runs Ferry's named jobs (``services.jobs``)."""
