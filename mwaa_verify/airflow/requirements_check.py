"""The target's requirements.txt and plugins, as the MWAA migration guide asks them to be.

requirements.txt must install against Airflow's constraints for exactly the target's Airflow and Python
versions; operators, hooks and sensors belong in the DAGs folder, not in plugins (Airflow 2.0+ imports them
as regular modules).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

CONSTRAINTS_URL = "https://raw.githubusercontent.com/apache/airflow/constraints-{airflow}/constraints-{python}.txt"
_CONSTRAINT_LINE = re.compile(r"^\s*(?:-c|--constraint)(?:\s+|=)(\S+)")
_CONSTRAINT_VERSIONS = re.compile(r"constraints-([0-9][0-9.]*[0-9])/constraints-([0-9]+\.[0-9]+)\.txt")
_OPERATOR_BASES = re.compile(r"(Operator|Sensor|BaseHook|Hook)$")


def expected_constraints(airflow_version: str, python_version: str) -> str:
    python = ".".join(python_version.split(".")[:2])
    return CONSTRAINTS_URL.format(airflow=airflow_version, python=python)


def constraint_problems(requirements: Path, airflow_version: str, python_version: str) -> list[str]:
    expected = expected_constraints(airflow_version, python_version)
    python = ".".join(python_version.split(".")[:2])
    lines = requirements.read_text(encoding="utf-8", errors="replace").splitlines()
    constraints = [
        (number, match.group(1)) for number, line in enumerate(lines, 1) if (match := _CONSTRAINT_LINE.match(line))
    ]
    if not constraints:
        return [f'{requirements.name} has no --constraint line; add `--constraint "{expected}"` as its first line']
    problems = []
    for number, url in constraints:
        versions = _CONSTRAINT_VERSIONS.search(url)
        if versions is None:
            problems.append(
                f"{requirements.name}:{number}: constraint {url} names no Airflow/Python version; use {expected}"
            )
        elif versions.groups() != (airflow_version, python):
            problems.append(
                f"{requirements.name}:{number}: constraints for Airflow {versions.group(1)} / "
                f"Python {versions.group(2)}, but the target runs Airflow {airflow_version} / Python {python}; "
                f"use {expected}"
            )
    return problems


@dataclass(frozen=True)
class PluginOperator:
    path: str
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.name}"


def operators_in_plugins(plugins: Path) -> list[PluginOperator]:
    found = []
    for path in sorted(plugins.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(_OPERATOR_BASES.search(_base_name(base)) for base in node.bases):
                found.append(PluginOperator(path.relative_to(plugins).as_posix(), node.lineno, node.name))
    return found


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""
