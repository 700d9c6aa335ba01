"""A file-based e-mail backend for worker subprocesses in tests, which can be told to hang.

When the file named by ``TEST_MAIL_BLOCK_FILE`` exists, sending touches ``<that>.started`` and
hangs, so that a test can SIGKILL the worker in the middle of a send.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from django.core.mail import EmailMessage
from django.core.mail.backends import filebased


class EmailBackend(filebased.EmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        block = os.environ.get("TEST_MAIL_BLOCK_FILE")
        if block and Path(block).exists():
            Path(block + ".started").touch()
            time.sleep(60)  # the test kills the worker long before this ends
        return super().send_messages(email_messages)
