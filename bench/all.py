"""Run the benchmarks B1–B7 in one go and collect their figures.

    .venv/bin/python bench/all.py [--quick]

Each script creates its own database (DATABASE_URL must reach a PostgreSQL server where it
may do so; B1–B4 drop theirs, B5 keeps ``bench_portal_pages`` for the next run) and writes its
JSON under var/bench/; this collects them into var/bench/all.json and prints one summary line
each. ``--quick`` runs smaller sizes
(B2 250k rows, B3 500k rows) for a fast check; the targets are stated at the full sizes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"

RUNS = [
    ("B1 intake", "intake.py", [], []),
    ("B2 rollup", "rollup.py", [], ["--rows", "250000"]),
    ("B3 dashboards", "dashboards.py", ["--rows", "2000000"], ["--rows", "500000", "--repeat", "5"]),
    ("B4 config snapshot", "config_snapshot.py", [], []),
    ("B5 portal pages", "portal_pages.py", [], ["--repeat", "5"]),
    ("B6 gateway node", "gateway_node.py", [], ["--quick"]),
    ("B7 AI gateway", "ai_gateway.py", [], ["--quick"]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data sets for a fast check")
    args = parser.parse_args()
    summary: dict[str, object] = {}
    failed = []
    for label, script, full, quick in RUNS:
        started = time.monotonic()
        print(f"\n=== {label}: bench/{script} {' '.join(quick if args.quick else full)}", flush=True)
        code = subprocess.call([sys.executable, str(ROOT / "bench" / script), *(quick if args.quick else full)])
        result_file = OUT / script.replace(".py", ".json")
        summary[label] = {
            "exit": code,
            "seconds": round(time.monotonic() - started, 1),
            "result": json.loads(result_file.read_text()) if result_file.exists() else None,
        }
        if code != 0:
            failed.append(label)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "all.json").write_text(json.dumps(summary, indent=2, default=str))
    print("\n=== summary")
    for label, entry in summary.items():
        print(f"{label:22} exit {entry['exit']}  {entry['seconds']:>7} s")  # type: ignore[index]
    print(f"wrote {OUT / 'all.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
