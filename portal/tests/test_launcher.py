"""The ./run and ./test launcher: argument pass-through, test database reuse, one launcher per var/."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from portal import launcher
from portal.launcher import VarInUse, db_reuse_args, migrations_digest, parse_command, var_lock

ROOT = Path(launcher.__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "argv",
    [["-k", "invitation"], ["--durations=10"], ["apis", "-x", "-q"], ["-p", "no:cacheprovider", "--lf"], []],
)
def test_every_pytest_argument_passes_through(argv):
    assert parse_command(["test", *argv]) == ("test", argv)


def test_unknown_commands_and_stray_arguments_are_refused():
    with pytest.raises(SystemExit, match="usage"):
        parse_command(["frobnicate"])
    with pytest.raises(SystemExit, match="takes no arguments"):
        parse_command(["run", "-k", "x"])


def test_test_database_is_reused_until_migrations_change(tmp_path, monkeypatch):
    env = {"DATABASE_URL": "postgres://x/db", "TEST_DATABASE_NAME": "t"}
    stamp = tmp_path / "test-db.stamp"
    args, new = db_reuse_args([], env, stamp)
    assert args == ["--reuse-db", "--create-db"] and new  # first run: build it
    stamp.write_text(new)
    assert db_reuse_args(["-k", "x"], env, stamp) == (["--reuse-db"], None)  # then: reuse
    monkeypatch.setattr(launcher, "migrations_digest", lambda: "a new migration")
    assert db_reuse_args([], env, stamp)[0] == ["--reuse-db", "--create-db"]


def test_ci_and_explicit_options_keep_a_fresh_database(tmp_path):
    stamp = tmp_path / "stamp"
    assert db_reuse_args([], {"CI": "true"}, stamp) == ([], None)
    assert db_reuse_args(["--create-db"], {}, stamp) == ([], None)


def test_migrations_digest_sees_a_new_migration(tmp_path):
    (tmp_path / "app" / "migrations").mkdir(parents=True)
    (tmp_path / "app" / "migrations" / "0001_initial.py").write_text("x = 1\n")
    before = migrations_digest(tmp_path)
    (tmp_path / "app" / "migrations" / "0002_more.py").write_text("y = 2\n")
    assert migrations_digest(tmp_path) != before


def test_a_second_launcher_on_the_same_var_refuses_and_names_the_first(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sys, time
                from pathlib import Path
                from portal.launcher import var_lock
                with var_lock(Path({str(tmp_path)!r})):
                    print("locked", flush=True)
                    time.sleep(60)
            """),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(VarInUse, match=f"pid {holder.pid}"), var_lock(tmp_path):
            pass
        # The real launcher refuses before starting anything, with a message saying what to do.
        env = {**os.environ, "PORTAL_VAR_DIR": str(tmp_path)}
        second = subprocess.run(
            [sys.executable, "-m", "portal.launcher", "test", "-k", "nothing"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "already using" in second.stderr and f"pid {holder.pid}" in second.stderr
        assert "PORTAL_VAR_DIR" in second.stderr
    finally:
        holder.kill()
        holder.wait()
    # Once the first one is gone (even killed), the lock is free again.
    with var_lock(tmp_path) as path:
        assert f"pid {os.getpid()}" in path.read_text()


def test_manage_py_uses_the_running_portals_services(tmp_path, monkeypatch):
    """While ./run is up, `manage.py <command>` in a second terminal reaches the same database and
    Redis (embedded ones included) without the user exporting anything."""
    run_env = tmp_path / "run.env"
    monkeypatch.setattr(launcher, "RUN_ENV", run_env)
    launcher.write_run_env(
        {"DATABASE_URL": "postgres://u@db.invalid/x", "REDIS_URL": "redis://r.invalid/1", "DEBUG": "true", "PATH": "/x"}
    )
    assert (run_env.stat().st_mode & 0o777) == 0o600
    assert launcher.read_run_env(run_env) == {
        "DATABASE_URL": "postgres://u@db.invalid/x",
        "REDIS_URL": "redis://r.invalid/1",
        "DEBUG": "true",
    }
    assert launcher.read_run_env(tmp_path / "missing.env") == {}
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "PORTAL_TESTING")}
    env["PORTAL_VAR_DIR"] = str(tmp_path)
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "from django.conf import settings; print(settings.DEBUG)"],
        cwd=launcher.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.strip().splitlines()[-1] == "True"
