"""``python -m gateway_node --portal URL --token gwn_…`` (see ``--help`` and docs/gateway-node.md)."""

from __future__ import annotations

import sys

from gateway_node.settings import SettingsError, load


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        settings, worker_index = load(argv)
    except SettingsError as exc:
        print(f"gateway_node: {exc}", file=sys.stderr)
        return 2
    if worker_index is not None:
        from gateway_node.node import run_worker

        return run_worker(settings, worker_index)
    from gateway_node.node import run_supervisor

    return run_supervisor(settings, argv)


if __name__ == "__main__":
    sys.exit(main())
