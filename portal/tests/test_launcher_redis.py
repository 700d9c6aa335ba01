"""The embedded Redis of ./run keeps its data across a crash (append-only file, fsync every second)."""

import os
import signal
import time

import redis

from portal import launcher


def test_embedded_redis_survives_sigkill(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "VAR", tmp_path)
    with launcher._start_redis() as url:
        client = redis.Redis.from_url(url)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.set("queued-task", "still here")
        time.sleep(1.5)  # appendfsync everysec
        os.kill(client.info("server")["process_id"], signal.SIGKILL)  # no shutdown save
    with launcher._start_redis() as url:
        assert redis.Redis.from_url(url).get("queued-task") == b"still here"
