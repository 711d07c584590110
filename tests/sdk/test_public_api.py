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


def _documented_names() -> set[str]:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "sdk.md").read_text(encoding="utf-8")
    paragraph = doc.split("Public names (all importable from `promptstage`):", 1)[1]
    paragraph = paragraph.split("`import promptstage` loads", 1)[0]
    import re

    return set(re.findall(r"`([A-Za-z]+)`", paragraph))


def test_the_documented_public_names_are_exactly_all():
    assert _documented_names() == set(promptstage.__all__)


def test_every_error_the_sdk_raises_is_importable_from_promptstage():
    """An SDK user can catch what the SDK raises without importing promptstage.errors."""
    import re
    from pathlib import Path

    import promptstage.errors as errors

    sdk = Path(promptstage.__file__).parent / "sdk"
    raised = set()
    for path in sdk.glob("*.py"):
        raised |= set(re.findall(r"raise (\w+Error)\(", path.read_text(encoding="utf-8")))
    raised |= {"TemplateError", "InvalidInputError"}  # render() and score() checks, via domain
    public_errors = {n for n in errors.__all__ if n in promptstage.__all__}
    raised &= set(errors.__all__)  # builtins such as AttributeError are not ours
    assert "InvalidInputError" in raised
    assert raised <= public_errors, sorted(raised - public_errors)
    assert promptstage.InvalidInputError is errors.InvalidInputError
