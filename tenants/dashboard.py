"""The organisation dashboard (``/t/<slug>/``) is assembled from parts the apps contribute.

tenants sits below every app that has something to show there (APIs, subscriptions, usage),
so it cannot import them. Instead each app registers a *contributor* in its ``AppConfig.ready``:
a function of the request that returns panels (a template and its context, in a section) and
getting-started steps. The dashboard view calls every contributor and renders what they return.

Contributors must issue a bounded number of queries (never one per row): the dashboard's
query count is tested at two data sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tenants.web import TenantRequest

Section = Literal["provider", "consumer", "organisation"]
Track = Literal["provide", "consume"]
TRACK_TITLES: dict[str, str] = {"provide": "Publish an API", "consume": "Call an API"}


@dataclass(frozen=True)
class Panel:
    """One card of the dashboard: ``template`` rendered with ``context`` (plus the page's own)."""

    section: Section
    order: int
    template: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One getting-started step: ticked when ``done``; ``url`` is where to do it."""

    track: Track
    order: int
    label: str
    done: bool
    url: str
    hint: str = ""


@dataclass
class Contribution:
    panels: list[Panel] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)


Contributor = Callable[["TenantRequest"], Contribution]
_contributors: list[Contributor] = []


def register(contributor: Contributor) -> Contributor:
    """Add a contributor (idempotent: ``ready()`` may run more than once in tests)."""
    if contributor not in _contributors:
        _contributors.append(contributor)
    return contributor


@dataclass
class Checklist:
    track: Track
    title: str
    steps: list[Step]

    @property
    def done_count(self) -> int:
        return sum(step.done for step in self.steps)

    @property
    def complete(self) -> bool:
        return all(step.done for step in self.steps)


@dataclass
class Dashboard:
    sections: dict[str, list[Panel]]
    checklists: list[Checklist]


def build(request: TenantRequest) -> Dashboard:
    """Every contributor's panels by section (ordered), and the checklists still worth showing.

    A track's checklist shows while it is incomplete, unless the other track is complete: an
    organisation that already publishes APIs is not nagged to consume one, and vice versa.
    """
    panels: list[Panel] = []
    steps: list[Step] = []
    for contributor in _contributors:
        part = contributor(request)
        panels += part.panels
        steps += part.steps
    sections: dict[str, list[Panel]] = {"provider": [], "consumer": [], "organisation": []}
    for panel in sorted(panels, key=lambda p: p.order):
        sections[panel.section].append(panel)
    tracks: tuple[Track, ...] = ("provide", "consume")
    checklists = [
        Checklist(track, TRACK_TITLES[track], sorted((s for s in steps if s.track == track), key=lambda s: s.order))
        for track in tracks
    ]
    checklists = [c for c in checklists if c.steps]
    if any(c.complete for c in checklists):
        checklists = []
    return Dashboard(sections=sections, checklists=checklists)
