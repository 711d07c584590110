"""``pip install promptstage`` is the SDK alone: importing it loads no server library."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_LIBRARIES = ("sqlalchemy", "fastapi", "pydantic", "jinja2", "starlette", "uvicorn")
PROBE = """
import json, sys
import promptstage
{extra}
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def loaded_after(extra: str = "") -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(extra=extra)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(json.loads(out.stdout))


def test_import_promptstage_loads_no_server_library() -> None:
    loaded = loaded_after()
    assert "promptstage" in loaded
    assert not loaded & set(SERVER_LIBRARIES), (
        f"import promptstage loaded {sorted(loaded & set(SERVER_LIBRARIES))}"
    )


def test_pure_layers_load_no_server_library() -> None:
    loaded = loaded_after(
        "import promptstage.domain.canonical, promptstage.domain.template, promptstage.domain.config, "
        "promptstage.domain.diff, promptstage.errors"
    )
    assert not loaded & set(SERVER_LIBRARIES), sorted(loaded & set(SERVER_LIBRARIES))
