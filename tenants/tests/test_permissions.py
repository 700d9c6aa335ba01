import re
from pathlib import Path

from tenants.roles import MATRIX, Perm, Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_docs_show_the_matrix_that_is_enforced():
    """docs/permissions.md is what people read; it must say what the code does."""
    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"^\|\s*`([a-z_.]+)`\s*\|(.+)\|\s*$", line)
        if match:
            cells = [c.strip() for c in match.group(2).split("|")]
            rows[match.group(1)] = cells[:4]
    assert set(rows) == {p.value for p in Perm}
    order = [Role.OWNER, Role.ADMIN, Role.DEVELOPER, Role.VIEWER]
    for perm, roles in MATRIX.items():
        documented = {order[i] for i, cell in enumerate(rows[perm.value]) if cell == "✓"}
        assert documented == set(roles), perm
