"""Suite text: strict YAML and TOML loading, and YAML writing, for ``suite.py``.

The YAML loader is PyYAML's SafeLoader without aliases (so an alias bomb cannot expand) and
without duplicate keys; JSON text is read as JSON (so escaped surrogate pairs combine).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from typing import Any

import yaml

from . import validation as v

MAX_SUITE_BYTES = 8 * 1024 * 1024


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]  # (without stubs)
    """SafeLoader without aliases (no billion-laughs expansion) and without duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call, unused-ignore]
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "aliases (*name) are not allowed in a suite; repeat the value",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice; keep one", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _construct_map(loader: Any, node: Any) -> Any:
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def load_text(text: str, fmt: str) -> Any:
    """Parse suite text as ``yaml`` (JSON is YAML) or ``toml``; errors name the line."""
    if len(text.encode("utf-8")) > MAX_SUITE_BYTES:
        raise v.invalid(
            "suite",
            f"is larger than {MAX_SUITE_BYTES // (1024 * 1024)} MiB",
            "split it into several suites",
        )
    if fmt == "toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise v.invalid("suite", f"is not valid TOML: {exc}", "fix the TOML syntax") from None
    if fmt != "yaml":
        raise v.invalid("format", f"{fmt!r} is not a suite format", "use yaml or toml")
    if text.lstrip().startswith("{"):  # JSON: parsed as JSON, so \uD83D\uDE00 pairs combine
        try:
            return json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError:
            pass  # flow-style YAML; the YAML parser reports any error
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise v.invalid(
            "suite", f"is not valid YAML: {exc}".replace("\n", " "), "fix the YAML syntax"
        ) from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise v.invalid("suite", f"key {key!r} appears twice in one object", "keep one")
        out[key] = value
    return out


class _NoAliasDumper(yaml.SafeDumper):  # type: ignore[misc, unused-ignore]  # (without stubs)
    """SafeDumper that repeats shared values instead of writing aliases (which we refuse)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: Mapping[str, Any]) -> str:
    """A suite mapping as YAML without aliases, keys in their order, non-ASCII escaped (so an
    invisible character shows as its escape in review)."""
    text: str = yaml.dump(
        data, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=False, width=100
    )
    return text
