"""Static findings on DAG files for an Airflow 3 target, with file and line.

ruff's Airflow rules (AIR301 removed, AIR302 moved to a provider: both break; AIR311/AIR312 still work through
shims and will not forever), plus what ruff misses (../shared/research/airflow_upgrade_facts.md §3.5, §3.7):
context keys and template variables Airflow 3 removed (the DAG imports, its tasks fail at run time), and
database access at the top level of a DAG file (blocked by 3.x's dag-processor).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from mwaa_verify.errors import ProbeError

RUFF_RULES = {"AIR301": True, "AIR302": True, "AIR311": False, "AIR312": False}  # code -> breaking
REMOVED_CONTEXT_KEYS = (
    "execution_date", "next_execution_date", "prev_execution_date", "prev_execution_date_success",
    "next_ds", "next_ds_nodash", "prev_ds", "prev_ds_nodash", "tomorrow_ds", "tomorrow_ds_nodash",
    "yesterday_ds", "yesterday_ds_nodash", "conf",
)  # fmt: skip
_CONTEXT_NAMES = {"context", "kwargs", "ctx", "kw", "ti_context"}
_TEMPLATE = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.DOTALL)
_TEMPLATE_KEY = re.compile(r"(?<![\w.'\"])(" + "|".join(REMOVED_CONTEXT_KEYS) + r")(?![\w'\"])")
_ORM_NAMES = {"Session", "create_session", "provide_session", "NEW_SESSION"}


@dataclass(frozen=True, order=True)
class Finding:
    path: str  # relative to the DAGs folder
    line: int
    code: str
    message: str
    breaking: bool

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code} {self.message}"


def dag_folder_findings(dags_folder: Path) -> dict[str, list[Finding]]:
    """Every finding in the folder, grouped by relative file path, sorted by line."""
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for finding in [*ruff_findings(dags_folder), *source_findings(dags_folder)]:
        grouped[finding.path].append(finding)
    return {path: sorted(set(items)) for path, items in grouped.items()}


def ruff_findings(dags_folder: Path) -> list[Finding]:
    command = [
        sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--exit-zero", "--output-format", "json",
        "--select", ",".join(RUFF_RULES), str(dags_folder),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    try:
        reported = json.loads(completed.stdout or "[]")
    except json.JSONDecodeError:
        raise ProbeError(f"ruff failed on {dags_folder}: {completed.stderr.strip()[-500:]}") from None
    return [
        Finding(
            path=Path(item["filename"]).resolve().relative_to(dags_folder.resolve()).as_posix(),
            line=item["location"]["row"],
            code=item["code"],
            message=item["message"],
            breaking=RUFF_RULES.get(item["code"], False),
        )
        for item in reported
        if item.get("code") in RUFF_RULES
    ]


def source_findings(dags_folder: Path) -> list[Finding]:
    findings = []
    for path in sorted(dags_folder.rglob("*.py")):
        relative = path.relative_to(dags_folder).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=relative)
        except SyntaxError:
            continue  # the import test reports it, with Python's own message
        findings += _context_findings(tree, relative)
        findings += _top_level_findings(tree, relative)
    return findings


def _context_findings(tree: ast.AST, path: str) -> list[Finding]:
    found = []
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue
        key = _context_key(node)
        if key:
            found.append(Finding(path, node.lineno, "CTX3", f"context key {key!r} was removed in Airflow 3", True))
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and ("{{" in node.value or "{%" in node.value)
        ):
            for block in _TEMPLATE.findall(node.value):
                for key in sorted(set(_TEMPLATE_KEY.findall(block))):
                    found.append(
                        Finding(path, node.lineno, "TPL3",
                                f"template variable {key!r} was removed in Airflow 3 (in {block.strip()!r})", True)
                    )  # fmt: skip
    return found


def _context_key(node: ast.AST) -> str | None:
    """'key' for context['key'] / context.get('key') / get_current_context()['key'] with a removed key."""
    if isinstance(node, ast.Subscript) and _is_context(node.value):
        key = node.slice
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and _is_context(node.func.value)
        and node.args
    ):
        key = node.args[0]
    else:
        return None
    if isinstance(key, ast.Constant) and key.value in REMOVED_CONTEXT_KEYS:
        return key.value
    return None


def _is_context(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in _CONTEXT_NAMES
    return (
        isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "get_current_context"
    )


def _top_level_findings(tree: ast.Module, path: str) -> list[Finding]:
    """Code that runs every time the file is parsed: the module body outside functions and classes."""
    found = []
    for node in _top_level_nodes(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and getattr(node.func.value, "id", None) == "Variable"
        ):
            message = (
                "Variable.get() at the top level runs on every parse (a database or secrets-backend call); "
                "read it inside a task or a template"
            )
            found.append(Finding(path, node.lineno, "TOP3", message, False))
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
        if name in _ORM_NAMES and isinstance(getattr(node, "ctx", None), ast.Load):
            message = f"database access ({name}) at the top level: Airflow 3's dag-processor blocks the ORM"
            found.append(Finding(path, node.lineno, "ORM3", message, True))
    return found


def _top_level_nodes(tree: ast.Module):
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        yield node
        pending.extend(ast.iter_child_nodes(node))
