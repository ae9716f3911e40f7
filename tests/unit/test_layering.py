"""The architecture rule DEVELOPERS.md states: surfaces and benchmarks go through the service layer.

``cli/``, ``agent/``, ``server/`` and ``bench/`` import nothing from ``veokit.store`` or ``veokit.engine``; what
they need of those is re-exported by ``veokit.service``. And the client does not hand its store or engine out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import veokit
from veokit.service import VeoClient

ROOT = Path(veokit.__file__).resolve().parents[2]
SURFACES = [ROOT / "src/veokit/cli", ROOT / "src/veokit/agent", ROOT / "src/veokit/server", ROOT / "bench"]
INTERNAL = ("veokit.store", "veokit.engine")
# Benchmarks of an internal layer itself, not of a surface: bench/store_path.py measures the job store's per-job
# path against raw sqlite3, which the service layer would only put plumbing in front of.
LAYER_BENCHES = {"bench/store_path.py"}


def internal_imports(source: str) -> list[str]:
    """Every module path an import statement names that is (or is inside) veokit.store or veokit.engine."""

    def internal(name: str) -> bool:
        return any(name == m or name.startswith(m + ".") for m in INTERNAL)

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if internal(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if internal(node.module):
                found.append(node.module)
            else:  # `from veokit import store` names the package too
                found += [n for alias in node.names if internal(n := f"{node.module}.{alias.name}")]
    return found


def test_the_rule_itself_catches_every_spelling() -> None:
    assert internal_imports("import veokit.store") == ["veokit.store"]
    assert internal_imports("from veokit.engine.worker import Worker") == ["veokit.engine.worker"]
    assert internal_imports("from veokit import engine") == ["veokit.engine"]
    assert internal_imports("def f():\n    from veokit.store.schema import jobs\n") == ["veokit.store.schema"]
    assert internal_imports("from veokit.service import VeoClient\nimport veokit.storeroom") == []


@pytest.mark.parametrize("folder", SURFACES, ids=lambda p: str(p.relative_to(ROOT)))
def test_surfaces_import_nothing_from_the_store_or_the_engine(folder: Path) -> None:
    if not folder.exists():
        pytest.skip(f"{folder.name}/ does not exist yet")
    files = sorted(folder.rglob("*.py"))
    assert files
    offences = {
        name: bad
        for f in files
        if (name := str(f.relative_to(ROOT))) not in LAYER_BENCHES
        and (bad := internal_imports(f.read_text(encoding="utf-8")))
    }
    assert offences == {}, "import these through veokit.service instead"


def test_the_client_keeps_its_store_and_engine_to_itself() -> None:
    public = {name for name in dir(VeoClient) if not name.startswith("_")}
    assert not public & {"store", "engine"}
