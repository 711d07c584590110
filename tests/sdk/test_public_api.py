"""The package's public surface: names, laziness, and no server libraries loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import promptstage

SERVER_LIBS = ("sqlalchemy", "fastapi", "pydantic", "starlette", "jinja2", "uvicorn", "alembic")


def run(code: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    return json.loads(out)


def test_all_is_sorted_and_resolvable():
    assert promptstage.__all__ == sorted(promptstage.__all__)
    for name in promptstage.__all__:
        assert getattr(promptstage, name) is not None
    assert set(promptstage.__all__) <= set(dir(promptstage))


def test_sdk_import_loads_no_server_library():
    found = run(
        "import json, sys\n"
        "from promptstage import AsyncClient, Client, ResolvedPrompt\n"
        f"print(json.dumps([m for m in {SERVER_LIBS!r} if m in sys.modules]))"
    )
    assert found == []


def test_bare_import_is_lazy():
    found = run(
        "import json, sys\n"
        "import promptstage, promptstage.errors\n"
        "print(json.dumps({'httpx': 'httpx' in sys.modules, 'sdk': 'promptstage.sdk' in sys.modules}))"
    )
    assert found == {"httpx": False, "sdk": False}


def test_sync_client_does_not_import_asyncio_machinery():
    found = run(
        "import json, sys\n"
        "from promptstage import Client\n"
        "print(json.dumps({'aclient': 'promptstage.sdk.aclient' in sys.modules}))"
    )
    assert found == {"aclient": False}
