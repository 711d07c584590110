"""The architecture holds: the import layers of STYLE.md (import-linter), and the claims of
docs/architecture.md that a program can check."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "promptstage"
DOC = ROOT / "docs" / "architecture.md"
PLANNED: set[str] = set()  # named in the doc as where the next floors go (none now)


def test_import_contracts_are_kept() -> None:
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert linter is not None, "import-linter is not installed: pip install -e '.[dev]'"
    result = subprocess.run([linter], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _defined(path: Path) -> set[str]:
    """Top-level functions and classes of a module, and ``Class.member`` names."""
    names: set[str] = set()
    for node in _tree(path).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}.{item.name}")
                elif isinstance(item, ast.Assign):
                    names.update(
                        f"{node.name}.{t.id}" for t in item.targets if isinstance(t, ast.Name)
                    )
    return names


def _doc_paths() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    found = re.findall(r"`([a-z_/]+(?:\.py|/))`", text)
    return sorted({p for p in found if "/" in p and p != "src/"})


@pytest.mark.parametrize("path", _doc_paths())
def test_every_module_the_doc_names_exists(path: str) -> None:
    if path in PLANNED:
        assert not (SRC / path).exists(), f"{path} exists now: drop it from PLANNED"
        return
    base = ROOT if path.startswith("tests/") else SRC
    assert (base / path).exists(), f"docs/architecture.md names {path}, which does not exist"


def test_every_function_the_doc_names_is_where_it_says() -> None:
    text = DOC.read_text(encoding="utf-8")
    pairs = re.findall(r"`([a-z_/]+\.py)` `([A-Za-z_][\w.]*)`", text)
    assert len(pairs) >= 10, "the data walks name their functions as `module.py` `function`"
    missing = [f"{module} {name}" for module, name in pairs if name not in _defined(SRC / module)]
    assert missing == [], f"docs/architecture.md names functions that are not there: {missing}"


def test_server_only_composes() -> None:
    tree = _tree(SRC / "server.py")
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert functions == {"create_app", "open_store"}
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert "create_task" not in calls, "background jobs go in service/workers.py build_jobs"


def test_nothing_is_built_at_import() -> None:
    # One composition root: no module-level app, engine, store or thread anywhere in src/.
    builders = {"FastAPI", "create_engine", "SqlStore", "Thread", "create_app"}
    found = []
    for path in SRC.rglob("*.py"):
        for node in _tree(path).body:
            if not isinstance(node, ast.Assign | ast.AnnAssign | ast.Expr):
                continue
            for call in ast.walk(node):
                if isinstance(call, ast.Call):
                    func = call.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    if name in builders:
                        found.append(f"{path.relative_to(SRC)}:{node.lineno} {name}")
    assert found == []


def test_routes_hold_no_governance_or_stream_policy() -> None:
    # Four-eyes, break-glass and the SSE protocol are service functions a second front end
    # calls; a route that reaches for their parts is copying policy.
    policy = {
        "needs_approval",
        "bypass_for",
        "open_label_move",
        "open_release_start",
        "open_settings_change",
        "update_settings",
        "write_settings",
        "approve",
        "reject",
        "move_label",
        "start_release",
        "delete_label",
        "rollback_label",
        "events_since",
        "last_event_seq",
        "subscribe",
    }
    found = []
    for path in sorted((SRC / "api" / "routes").glob("*.py")):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and node.attr in policy:
                found.append(f"{path.name}:{node.lineno} {node.attr}")
    assert found == []


def test_events_and_audit_actions_are_named_in_one_module() -> None:
    # STYLE.md habit 16: no event type or audit action spelled as a bare string in a service.
    from promptstage.domain.events import AuditAction, EventType

    names = {m.value for m in EventType} | {m.value for m in AuditAction}
    found = []
    for path in sorted((SRC / "service").glob("*.py")):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"service/{path.name}:{node.lineno} {node.value!r}")
    assert found == []


def test_every_test_the_docs_cite_exists() -> None:
    # docs/security.md and the others prove each control by a test named path::function;
    # a moved or renamed test must take its citation along.
    cited = set()
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        cited.update(re.findall(r"(tests/[\w/]+\.py)::(\w+)", doc.read_text(encoding="utf-8")))
    assert len(cited) > 50
    missing = [
        f"{path}::{name}"
        for path, name in sorted(cited)
        if not (ROOT / path).exists() or name not in _defined(ROOT / path)
    ]
    assert missing == [], f"the docs cite tests that do not exist: {missing}"
