#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    if "DATABASE_URL" not in os.environ:
        # A ./run is up: use its services and settings (portal/launcher.py, RUN_ENV).
        from portal.launcher import read_run_env

        for key, value in read_run_env().items():
            os.environ.setdefault(key, value)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
