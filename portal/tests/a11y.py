"""Checks a browser test runs on a page: axe-core, horizontal overflow, contrast of what it draws."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

#: axe-core impacts that fail a page (the issue: "no serious or critical violations").
FAILING = {"serious", "critical"}
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"


def axe_violations(page: object) -> list[str]:
    """The page's serious and critical axe-core violations, one line per rule and element."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page).response
    return [
        f"{page.url}: {v['id']} ({v['impact']}) {node['target']}"  # type: ignore[attr-defined]
        for v in results["violations"]
        if v["impact"] in FAILING
        for node in v["nodes"]
    ]


def overflows(page: object) -> bool:
    """True when the page scrolls sideways (wider than the window)."""
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth"))  # type: ignore[attr-defined]


def screenshot(page: object, name: str) -> None:
    """Keep a full-page screenshot under var/screenshots/ (a CI artifact)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _luminance(css_color: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"[\d.]+", css_color)[:3])

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(color_a: str, color_b: str) -> float:
    """WCAG contrast ratio of two opaque CSS colours ("rgb(…)" as getComputedStyle gives them)."""
    high, low = sorted((_luminance(color_a), _luminance(color_b)), reverse=True)
    return (high + 0.05) / (low + 0.05)
