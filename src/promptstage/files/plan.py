"""What a push would do: compare the files in a directory with the lock file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .layout import name_for, parse_file
from .lock import Lock
from .spec import FileFormatError, PromptSpec

Action = Literal["unchanged", "modified", "new"]


@dataclass(frozen=True, slots=True)
class Change:
    """One prompt file and what a push does with it."""

    name: str
    file: str
    action: Action
    spec: PromptSpec
    base_version: int | None = None


@dataclass(slots=True)
class Plan:
    """Every file's change, and the problems that stop a push (all of them, not the first)."""

    changes: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def pending(self) -> list[Change]:
        """The changes a push writes."""
        return [c for c in self.changes if c.action != "unchanged"]


def make_plan(lock: Lock, files: dict[str, str]) -> Plan:
    """Compare ``files`` (relative path -> text) with ``lock``.

    A lock entry whose file is gone is an error: renamed when a new file has its exact content
    (prompts cannot be renamed), deleted otherwise (a push never archives).
    """
    plan = Plan()
    by_name: dict[str, tuple[str, PromptSpec]] = {}
    unreadable: set[str] = set()
    for path in sorted(files):
        try:
            parsed = parse_file(files[path], path)
        except FileFormatError as exc:
            plan.errors.append(str(exc))
            unreadable.add(name_for(path))
            continue
        plan.warnings.extend(parsed.warnings)
        name = name_for(path)
        if name in by_name:
            plan.errors.append(
                f"{path}: prompt {name!r} also has the file {by_name[name][0]}; keep one of them"
            )
            continue
        by_name[name] = (path, parsed.spec)
    new = {n: v for n, v in by_name.items() if n not in lock.prompts}
    for name, entry in sorted(lock.prompts.items()):
        if name in by_name or name in unreadable:
            continue
        twins = [p for p, spec in new.values() if spec.digest == entry.digest]
        if twins:
            plan.errors.append(
                f"{entry.file} was renamed to {twins[0]}: a file's path is its prompt's name and "
                f"prompts cannot be renamed; rename it back to {entry.file}, or keep the new name "
                f"and remove {name!r} from promptstage.lock to create a new prompt"
            )
        else:
            plan.errors.append(
                f"{entry.file} (prompt {name!r}) is missing: push never archives a prompt; restore "
                f"the file, or archive it with `promptstage prompt archive {name}` and remove it "
                "from promptstage.lock"
            )
    for name, (path, spec) in sorted(by_name.items()):
        base = lock.prompts.get(name)
        if base is None:
            plan.changes.append(Change(name, path, "new", spec))
        elif spec.digest == base.digest:
            plan.changes.append(Change(name, path, "unchanged", spec, base.version))
        else:
            plan.changes.append(Change(name, path, "modified", spec, base.version))
    return plan
