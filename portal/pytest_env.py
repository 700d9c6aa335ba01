"""Loaded by pytest (``-p portal.pytest_env``) before Django is set up.

Test mode: dev-only defaults (secret key, hosts), no rate limits, Celery tasks inline.
"""

import os

os.environ.setdefault("PORTAL_TESTING", "1")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
