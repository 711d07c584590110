"""The SDK's import footprint: no server library is loaded by ``import promptstage``."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_LIBS = ("sqlalchemy", "fastapi", "pydantic", "jinja2", "starlette", "uvicorn", "alembic")

PROGRAM = f"""
import json, sys
import promptstage
from promptstage import Client
loaded = {{"import": [m for m in {SERVER_LIBS!r} if m in sys.modules]}}
snapshot = {{"format": 1, "project": "clinic", "seq": 0, "prompts": {{}}, "versions": {{}},
             "releases": []}}
ps = Client("http://127.0.0.1:9", "clinic", "ps_abc_def", bootstrap=snapshot, init_timeout=0.1,
            close_timeout=0.1)
ps.close()
loaded["client"] = [m for m in {SERVER_LIBS!r} if m in sys.modules]
print(json.dumps(loaded))
"""


def test_import_and_a_client_load_no_server_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {"import": [], "client": []}
