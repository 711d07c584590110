"""The targeting rule builder without JavaScript: a react-querybuilder rule group carried in
flat form fields, edited by submit buttons, and converted to and from the JSON the API takes.

Every node has a path: the root group is ``0``, its children ``0.0``, ``0.1``..., theirs
``0.1.0``... A group sends ``g:<path>:combinator`` (and ``g:<path>:not`` when checked); a rule
``r:<path>:field``, ``r:<path>:operator``, ``r:<path>:value``. The buttons send
``op=add-rule:<path>``, ``op=add-group:<path>`` or ``op=remove:<path>``. Paths are renumbered
on every render, so a node's path is also where its JSON sits: ``0.1.0`` is
``targeting.rules[1].rules[0]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from promptstage.rollout.targeting import MAX_DEPTH, MAX_RULES, OPERATORS

OPERATOR_CHOICES: Final = (
    "=", "!=", "<", ">", "<=", ">=", "in", "notIn", "contains", "beginsWith", "endsWith",
    "null", "notNull", "between",
)  # fmt: skip
MAX_NODES: Final = MAX_RULES + 1
_PATH: Final = re.compile(r"^0(\.\d{1,3}){0,8}$")
_LIST_OPS: Final = frozenset({"in", "notIn", "between"})


@dataclass
class Rule:
    field: str = ""
    operator: str = "="
    value: str = ""


@dataclass
class Group:
    combinator: str = "and"
    negate: bool = False
    rules: list[Rule | Group] = field(default_factory=list)


def _key(path: str) -> tuple[int, ...]:
    return tuple(int(p) for p in path.split("."))


def from_form(form: Mapping[str, Any]) -> Group:
    """The rule group the form's flat fields describe (unknown or malformed keys ignored)."""
    groups: dict[str, Group] = {"0": Group()}
    rules: dict[str, Rule] = {}
    for name, value in form.items():
        parts = str(name).split(":")
        if len(parts) != 3 or parts[0] not in ("g", "r") or not _PATH.match(parts[1]):
            continue
        kind, path, attr = parts
        text = str(value)[:500]
        if kind == "g":
            group = groups.setdefault(path, Group())
            if attr == "combinator":
                group.combinator = "or" if text == "or" else "and"
            elif attr == "not":
                group.negate = text in ("on", "true", "1")
        elif path != "0":
            rule = rules.setdefault(path, Rule())
            if attr in ("field", "operator", "value"):
                setattr(rule, attr, text.strip() if attr != "value" else text)
        if len(groups) + len(rules) > MAX_NODES * 2:
            break
    nodes: dict[str, Rule | Group] = {**rules, **groups}
    for path in sorted(nodes, key=_key):
        if path == "0":
            continue
        parent = groups.get(path.rsplit(".", 1)[0])
        if parent is not None:  # an orphan (its group was not sent) is dropped
            parent.rules.append(nodes[path])
    return groups["0"]


def _find(root: Group, path: str) -> tuple[Group | None, int]:
    """The parent group of ``path`` and the node's index in it (``None`` if absent)."""
    indexes = _key(path)[1:]
    group = root
    for i in indexes[:-1]:
        if i >= len(group.rules) or not isinstance(group.rules[i], Group):
            return None, -1
        child = group.rules[i]
        assert isinstance(child, Group)
        group = child
    if not indexes or indexes[-1] >= len(group.rules):
        return None, -1
    return group, indexes[-1]


def _target(root: Group, path: str) -> Group | None:
    if path == "0":
        return root
    parent, index = _find(root, path)
    node = parent.rules[index] if parent is not None else None
    return node if isinstance(node, Group) else None


def _count(group: Group) -> int:
    return sum(1 + (_count(r) if isinstance(r, Group) else 0) for r in group.rules)


def _depth(path: str) -> int:
    return len(_key(path))


def apply(root: Group, op: str) -> Group:
    """Apply a builder button (``add-rule:<path>``, ``add-group:<path>``, ``remove:<path>``);
    anything else, or beyond the limits, changes nothing."""
    action, _, path = op.partition(":")
    if not _PATH.match(path):
        return root
    if action == "remove" and path != "0":
        parent, index = _find(root, path)
        if parent is not None:
            del parent.rules[index]
        return root
    target = _target(root, path)
    if target is None or _count(root) >= MAX_RULES:
        return root
    if action == "add-rule":
        target.rules.append(Rule())
    elif action == "add-group" and _depth(path) < MAX_DEPTH:
        target.rules.append(Group(rules=[Rule()]))
    return root


def _value_json(rule: Rule) -> Any:
    if rule.operator in ("null", "notNull"):
        return None
    if rule.operator in _LIST_OPS:
        return rule.value  # comma-separated: rollout.targeting splits it (\, escapes)
    return rule.value


def to_json(group: Group) -> dict[str, Any]:
    """The react-querybuilder JSON of ``group`` (validated later by the service)."""
    return {
        "combinator": group.combinator,
        "not": group.negate,
        "rules": [
            to_json(r)
            if isinstance(r, Group)
            else {"field": r.field, "operator": r.operator, "value": _value_json(r)}
            for r in group.rules
        ],
    }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        # "," separates and "\," is a comma inside an item (rollout.targeting._split). After an
        # item that ends in a backslash the separator is " ," (items are trimmed): with "," the
        # two would read as an escaped comma, joining the items.
        items = [_text(v).replace(",", "\\,") for v in value]
        return "".join(
            item + (" ," if item.endswith("\\") else ",") for item in items[:-1]
        ) + "".join(items[-1:])
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def from_json(obj: Any, depth: int = 1) -> Group:
    """A rule group for the builder from react-querybuilder JSON (already validated)."""
    if not isinstance(obj, dict):
        return Group()
    group = Group(
        combinator="or" if str(obj.get("combinator", "and")).lower() == "or" else "and",
        negate=obj.get("not") is True,
    )
    for item in obj.get("rules") or []:
        if isinstance(item, dict) and "rules" in item and depth < MAX_DEPTH:
            group.rules.append(from_json(item, depth + 1))
        elif isinstance(item, dict):
            op = str(item.get("operator", "="))
            group.rules.append(
                Rule(
                    str(item.get("field", "")),
                    op if op in OPERATORS else "=",
                    _text(item.get("value")),
                )
            )
    return group


def is_empty(group: Group) -> bool:
    """A root group without rules: everyone is targeted (no ``targeting`` is sent)."""
    return not group.rules


def field_of(error_field: str | None) -> str | None:
    """The builder input an error's field names: ``targeting.rules[1].operator`` ->
    ``r:0.1:operator``; ``None`` when it is not in the builder."""
    if not error_field or not error_field.startswith("targeting"):
        return None
    indexes = re.findall(r"rules\[(\d+)\]", error_field)
    tail = error_field.rsplit(".", 1)[-1]
    path = ".".join(["0", *indexes])
    if tail in ("field", "operator") or tail.startswith("value"):
        return f"r:{path}:{'value' if tail.startswith('value') else tail}"
    return f"g:{path}:combinator"


def dumps(group: Group) -> str:
    """The JSON text shown in the alternative textarea."""
    return json.dumps(to_json(group), indent=2, ensure_ascii=False)
