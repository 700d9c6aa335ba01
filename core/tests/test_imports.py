"""Services never import Celery tasks (tasks import services): no services ↔ tasks cycle."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ["core", "tenants", "apis", "notifications", "subscriptions"]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_services_never_import_tasks():
    services = [p for app in APPS for p in (ROOT / app).rglob("*.py") if "services" in p.parts or p.stem == "services"]
    services += [ROOT / "core" / "outbox.py"]
    assert services
    offenders = {
        str(p.relative_to(ROOT)): sorted(n for n in _imports(p) if n.endswith(".tasks") or ".tasks." in n)
        for p in services
    }
    assert {k: v for k, v in offenders.items() if v} == {}
