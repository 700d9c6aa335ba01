"""The node's settings: flags, environment, and a clear message for every bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway_node.settings import SettingsError, load

TOKEN = "gwn_abc_def"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("GATEWAY_NODE_"):
            monkeypatch.delenv(name)


def test_flags_and_defaults():
    settings, worker = load(["--portal", "https://portal.example.com/", "--token", TOKEN, "--workers", "3"])
    assert worker is None
    assert settings.portal_url == "https://portal.example.com"
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 8080)
    assert (settings.admin_host, settings.admin_port) == ("127.0.0.1", 9180)
    assert settings.workers == 3
    assert settings.redis_url is None
    assert (settings.breaker_failures, settings.breaker_cooldown) == (5, 10.0)


def test_everything_also_comes_from_the_environment(monkeypatch, tmp_path: Path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv("GATEWAY_NODE_PORTAL_URL", "http://portal:8000")
    monkeypatch.setenv("GATEWAY_NODE_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("GATEWAY_NODE_LISTEN", ":9000")
    monkeypatch.setenv("GATEWAY_NODE_REDIS_URL", "redis://r:6379/2")
    monkeypatch.setenv("GATEWAY_NODE_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1")
    monkeypatch.setenv("GATEWAY_NODE_WORKERS", "0")
    settings, _ = load([])
    assert settings.token == TOKEN
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 9000)
    assert settings.redis_url == "redis://r:6379/2"
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.168.1.1/32"]
    assert settings.workers >= 1  # 0 means one per core


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--token", TOKEN], "portal URL is required"),
        (["--portal", "portal.example.com", "--token", TOKEN], "must start with http"),
        (["--portal", "http://p"], "node token gwn_"),
        (["--portal", "http://p", "--token", "apk_x_y"], "node token gwn_"),
        (["--portal", "http://p", "--token", TOKEN, "--listen", "8080"], "HOST:PORT"),
        (["--portal", "http://p", "--token", TOKEN, "--admin", "h:99999"], "HOST:PORT"),
        (["--portal", "http://p", "--token", TOKEN, "--poll-interval", "0"], "--poll-interval must be > 0"),
        (["--portal", "http://p", "--token", TOKEN, "--batch-records", "0"], "--batch-records must be"),
        (["--portal", "http://p", "--token", TOKEN, "--trusted-proxies", "10.0.0.0/33"], "--trusted-proxies"),
    ],
)
def test_bad_settings_are_named(argv, message):
    with pytest.raises(SettingsError, match=message):
        load(argv)


def test_the_command_refuses_to_start_without_a_portal_and_says_why():
    result = subprocess.run(
        [sys.executable, "-m", "gateway_node", "--token", TOKEN],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert "portal URL is required" in result.stderr
