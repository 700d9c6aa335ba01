"""The apps are layered: core ← tenants ← sso ← apis ← notifications ← subscriptions ← llm ← gateways ← console
← analytics ← alerts,
and portal (the shell: settings, urls, site pages) presents them, never the other way round. No import cycles.

Every non-test, non-migration module is parsed (imports inside functions count too), so a lazy
import cannot hide a dependency against the order.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Lower rank = lower layer. A module may import its own layer and the layers below it.
LAYERS = {
    "core": 0,
    "tenants": 1,
    "sso": 1.5,
    "apis": 2,
    "notifications": 3,
    "subscriptions": 4,
    "llm": 4.5,
    "gateways": 5,
    "console": 5.5,
    "analytics": 6,
    "alerts": 7,
}
SHELL = "portal"
#: Known cycles that another change removes; the lead deletes an entry once that change is merged.
ALLOWED_CYCLE_EDGES: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_modules() -> dict[str, Path]:
    modules = {}
    for app in LAYERS:
        for path in (ROOT / app).rglob("*.py"):
            rel = path.relative_to(ROOT).parts
            if "tests" in rel or "migrations" in rel or path.name == "conftest.py":
                continue
            modules[_module_name(path)] = path
    return modules


def _imports(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported project-or-shell module, line) for every import statement in the module."""
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                # `from apis import services` imports the module apis.services, not just apis.
                found.append((submodule if submodule in known else base, node.lineno))
    return sorted({(t, line) for t, line in found if t.split(".")[0] in {*LAYERS, SHELL}}, key=lambda x: x[1])


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    modules = _project_modules()
    known = set(modules)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    violations = []
    for name, path in sorted(modules.items()):
        own = name.split(".")[0]
        for target, line in _imports(name, path, known):
            top = target.split(".")[0]
            if top == SHELL:
                violations.append(f"{path.relative_to(ROOT)}:{line}: {name} imports the shell ({target})")
            elif LAYERS[top] > LAYERS[own]:
                violations.append(f"{path.relative_to(ROOT)}:{line}: {name} imports {target}, a higher layer")
            # Resolve `import apis.services.keys` / names of packages to the longest known module.
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != name and (name, target) not in ALLOWED_CYCLE_EDGES:
                graph[name].add(target)
    return graph, violations


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_the_parser_sees_every_app_and_lazy_imports() -> None:
    graph, _ = _graph()
    # analytics/ arrives with another branch of issue 8; apps not on disk yet are skipped.
    assert {name.split(".")[0] for name in graph} == {app for app in LAYERS if (ROOT / app).is_dir()}
    assert "tenants.web" in graph["apis.views"]  # `from tenants.web import tenant_view`


def test_imports_follow_the_layers() -> None:
    _, violations = _graph()
    assert violations == [], "\n".join(violations)


def test_no_import_cycles() -> None:
    graph, _ = _graph()
    cycles = _cycles(graph)
    assert cycles == [], "\n".join(" ↔ ".join(cycle) for cycle in cycles)


def test_a_violation_and_a_cycle_are_detected(tmp_path: Path) -> None:
    """The checks themselves work: a lower layer importing a higher one, a lazy shell import, a cycle."""
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from portal.settings import DEBUG\n    from . import views\n")
    assert _imports("tenants.lazy", module, {"tenants.views"}) == [("portal.settings", 2), ("tenants.views", 3)]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_gateway_node_imports_nothing_from_django_or_the_portal():
    """gateway_node/ is a separate process (DESIGN.md): it speaks the protocol over HTTP only."""
    forbidden = {"django", "rest_framework", "drf_spectacular", "allauth", "celery", *LAYERS, SHELL}
    violations = []
    for path in sorted((ROOT / "gateway_node").rglob("*.py")):
        if "tests" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            violations += [
                f"{path.relative_to(ROOT)}:{node.lineno}: imports {name}"
                for name in names
                if name.split(".")[0] in forbidden
            ]
    assert (ROOT / "gateway_node" / "gate.py").exists()
    assert violations == []
