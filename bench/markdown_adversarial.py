"""Adversarial Markdown at the stored maximum: render time must stay bounded and near-linear.

Run ``python bench/markdown_adversarial.py`` (``--budget SECONDS`` to change the budget). For each
pathological input it renders the text at the maximum stored size N and at N/4, prints both times
and their ratio (linear growth is ~4; quadratic would be ~16), writes the figures as JSON to
``var/bench/markdown_adversarial.json`` and exits 1 if any render at N exceeds the budget or grows
clearly super-linearly. ``apis/tests/test_markdown.py`` runs a smaller version in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from apis.markdown import MAX_MARKDOWN_CHARS, render_markdown  # noqa: E402


def _fill(unit: str, size: int) -> str:
    """``unit`` repeated to exactly ``size`` characters."""
    return (unit * (size // len(unit) + 1))[:size]


def _nest(open_: str, close: str, size: int) -> str:
    half = size // (len(open_) + len(close))
    return open_ * half + "x" + close * half


#: name -> generator of an input of (about) the given number of characters.
CASES: dict[str, Callable[[int], str]] = {
    "open brackets [[[[": lambda n: _fill("[", n),
    "nested brackets [[[x]]]": lambda n: _nest("[", "]", n),
    "link openers [a](": lambda n: _fill("[a](", n),
    "unclosed links [x](y": lambda n: _fill("[x](y ", n),
    "image openers ![": lambda n: _fill("![", n),
    "nested links [[a](b)": lambda n: _nest("[", "](u)", n),
    "emphasis run *": lambda n: _fill("*", n),
    "emphasis run _": lambda n: _fill("_", n),
    "alternating *_": lambda n: _fill("*_", n),
    "emphasis words *a": lambda n: _fill("*a ", n),
    "strong openers **a": lambda n: _fill("**a ", n),
    "mixed delimiters *a_b**c__": lambda n: _fill("*a_b**c__", n),
    "strikethrough ~~a": lambda n: _fill("~~a ", n),
    "backtick runs `": lambda n: "".join("`" * k + "a" for k in range(1, 10_000))[:n],
    "backticks ``a`": lambda n: _fill("``a`", n),
    "less-than run <": lambda n: _fill("<", n),
    "autolink openers <a:": lambda n: _fill("<a:", n),
    "html-ish <a <b": lambda n: _fill("<a ", n),
    "entities &#": lambda n: _fill("&#", n),
    "nested lists": lambda n: "".join("  " * min(i, 400) + "- x\n" for i in range(n))[:n],
    "list markers - - -": lambda n: _fill("- ", n),
    "ordered markers 1. 1.": lambda n: _fill("1. ", n),
    "nested blockquotes >": lambda n: _fill(">", n) + " x",
    "quote + list > - > -": lambda n: _fill("> - ", n),
    "link reference flood": lambda n: (
        "".join(f"[r{i}]: /u{i}\n" for i in range(n))[: n // 2] + "".join(f"[r{i}] " for i in range(n))[: n // 2]
    ),
    "reference definitions only": lambda n: _fill("[a]: <", n),
    "table columns |": lambda n: "|" + _fill("a|", n // 3) + "\n|" + _fill("-|", n // 3) + "\n" + _fill("|", n // 3),
    "table rows": lambda n: "|a|b|\n|-|-|\n" + _fill("|x|y|\n", n),
    "headings ###": lambda n: _fill("### a\n", n),
    "setext underlines": lambda n: _fill("a\n=\n", n),
    "fenced code ```": lambda n: _fill("```\n", n),
    "indented code": lambda n: _fill("    a\n", n),
    "hard breaks": lambda n: _fill("a  \n", n),
    "escapes \\": lambda n: _fill("\\", n),
    "long line": lambda n: _fill("lorem ipsum ", n),
}


def timed(text: str, repeat: int = 1) -> float:
    """The best of ``repeat`` renders, in CPU seconds of this process.

    CPU time rather than wall time: on a shared machine other processes' load would otherwise
    decide the result; what matters here is the work one render costs a worker.
    """
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        render_markdown(text)
        best = min(best, time.process_time() - start)
    return best


def run(size: int, budget: float, repeat: int = 1) -> list[dict[str, float | str | bool]]:
    """Render every case at ``size`` and ``size // 4``; one result dict per case."""
    results = []
    for name, make in CASES.items():
        full, quarter = make(size)[:size], make(size // 4)[: size // 4]
        at_n, at_quarter = timed(full, repeat), timed(quarter, repeat)
        ratio = at_n / at_quarter if at_quarter >= 0.02 else None
        # Linear growth gives ~4; allow noise up to 8 (quadratic would be ~16). Below 20 ms at N/4
        # the ratio is mostly timer noise, and the budget alone decides.
        linear = ratio is None or ratio < 8
        results.append(
            {
                "case": name,
                "chars": len(full),
                "seconds_at_n": round(at_n, 4),
                "seconds_at_quarter": round(at_quarter, 4),
                "ratio": round(ratio, 2) if ratio is not None else None,
                "within_budget": at_n <= budget,
                "near_linear": linear,
            }
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=MAX_MARKDOWN_CHARS, help="characters at N (the stored maximum)")
    parser.add_argument("--budget", type=float, default=2.0, help="CPU seconds one render at N may take")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "markdown_adversarial.json"))
    args = parser.parse_args()
    results = run(args.size, args.budget, repeat=3)
    print(f"{'case':32} {'chars':>8} {'t(N) s':>9} {'t(N/4) s':>9} {'ratio':>6}")
    for row in results:
        flag = "" if row["within_budget"] and row["near_linear"] else "  <-- FAIL"
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.1f}"
        print(
            f"{row['case']:32} {row['chars']:>8} {row['seconds_at_n']:>9.4f} {row['seconds_at_quarter']:>9.4f}"
            f" {ratio:>6}{flag}"
        )
    worst = max(results, key=lambda row: float(row["seconds_at_n"]))
    ok = all(row["within_budget"] and row["near_linear"] for row in results)
    print(f"worst: {worst['case']} {worst['seconds_at_n']} s at {args.size} chars; budget {args.budget} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"size": args.size, "budget_seconds": args.budget, "ok": ok, "cases": results}, indent=2))
    print(f"wrote {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
