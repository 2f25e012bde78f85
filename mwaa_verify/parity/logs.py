"""Task logs of one DAG on two sides: which are missing, truncated, different, or only on the target."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mwaa_verify.environments.base import TaskLog


@dataclass
class LogComparison:
    compared: int = 0
    missing: list[str] = field(default_factory=list)
    truncated: list[tuple[str, int, int]] = field(default_factory=list)  # name, source lines, target lines
    differing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.missing or self.truncated or self.differing)

    def explain(self, dag_id: str, limit: int = 20) -> str:
        lines = [
            f"{dag_id}: {self.compared} source log(s): {len(self.missing)} log(s) missing on the target, "
            f"{len(self.truncated)} truncated, {len(self.differing)} log differs, {len(self.extra)} only on the target"
        ]
        lines += [f"  missing: {name}" for name in self.missing[:limit]]
        lines += [
            f"  truncated: {name} ({ours} lines, {theirs} on the target)"
            for name, ours, theirs in self.truncated[:limit]
        ]
        lines += [f"  differs: {name}" for name in self.differing[:limit]]
        lines += [f"  only on the target: {name}" for name in self.extra[:limit]]
        return "\n".join(lines)


def compare_logs(source: Mapping[str, TaskLog], target: Mapping[str, TaskLog]) -> LogComparison:
    result = LogComparison(compared=len(source))
    for name, log in sorted(source.items()):
        copy = target.get(name)
        if copy is None:
            result.missing.append(name)
        elif copy.lines < log.lines:
            result.truncated.append((name, log.lines, copy.lines))
        elif copy.sha256 != log.sha256:
            result.differing.append(name)
    result.extra = sorted(set(target) - set(source))
    return result
