"""Imports point the way DESIGN.md draws them, and no API router imports another router.

The table is DESIGN.md's "Top-level layout". Two additions hold for every part: ``telemetry``
(the wire contract: quantities, units and readings everyone speaks) and ``ops`` (the service
plumbing DESIGN.md asks to keep in one small shared module).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {
    "telemetry",
    "firmware_sim",
    "gateway",
    "ingest",
    "storage",
    "agronomy",
    "alerts",
    "registry",
    "api",
    "dashboards",
    "ops",
    "tani",
}
SHARED = {"telemetry", "ops"}
MAY_IMPORT: dict[str, set[str]] = {
    "telemetry": set(),
    "ops": set(),
    "registry": set(),
    "firmware_sim": {"telemetry"},
    "gateway": {"telemetry"},
    "storage": {"telemetry"},
    "agronomy": {"telemetry"},
    "ingest": {"registry", "storage"},
    "alerts": {"registry", "storage", "agronomy"},
    "api": {"registry", "storage", "agronomy", "alerts"},
    "dashboards": {"storage", "agronomy"},
    "tani": OURS,
}


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_point_the_way_design_draws_them(package: str) -> None:
    allowed = {package} | MAY_IMPORT[package]
    if package not in ("telemetry", "registry", "ops"):  # these import nothing of ours
        allowed |= SHARED
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, name in _imports(path)
        if name.split(".")[0] in OURS and name.split(".")[0] not in allowed
    ]
    assert not wrong, "\n".join(wrong)


def test_no_router_imports_another_router() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / "api" / "routers").glob("*.py"))
        for line, name in _imports(path)
        if name.startswith("api.routers")
    ]
    assert not wrong, "\n".join(wrong)
