import os

# Test mode: dev-only defaults (secret key, hosts), no rate limits, Celery tasks run inline.
os.environ.setdefault("PORTAL_TESTING", "1")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
