"""Static findings on DAG files for an Airflow 3 target, with file and line.

ruff's Airflow rules (AIR301 removed, AIR302 moved to a provider: both break; AIR311/AIR312 still work through
shims and will not forever), plus what ruff misses (../shared/research/airflow_upgrade_facts.md §3.5, §3.7):
context keys and template variables Airflow 3 removed (the DAG imports, its tasks fail at run time), and
database access at the top level of a DAG file (blocked by 3.x's dag-processor).

A task reaches its context in many ways, and every one is followed here: Jinja templates (in the DAG file, in
op_kwargs / templates_dict, in template files such as .sql the file names), `context[...]` / `context.get(...)`
on the context argument, on a task callable's `**kwargs` or on `get_current_context()`, and the parameters of
a task callable (`@task` functions of every flavour, anything passed as `python_callable=`, which covers
PythonOperator, BranchPythonOperator, ShortCircuitOperator, PythonVirtualenvOperator, ExternalPythonOperator,
PythonSensor and any subclass), `execute(self, context)` of custom operators and `on_*_callback` functions.
The same reads tell which DAGs use data-interval values (`data_interval_reads`), which decides how much the
cron/timedelta -> trigger timetable change of Airflow 3 matters to a DAG.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mwaa_verify.errors import ProbeError

RUFF_RULES = {"AIR301": True, "AIR302": True, "AIR311": False, "AIR312": False}  # code -> breaking

# Context keys of Airflow 2 that no Airflow 3 release has (2.10's KNOWN_CONTEXT_KEYS minus 3.x's Context;
# the same on 3.0, 3.2 and 3.3, checked by tests/test_dag_version_matrix.py), each with what to use instead.
REMOVED_CONTEXT_KEYS: dict[str, str] = {
    "execution_date": "logical_date (or data_interval_start for the start of the run's interval)",
    "next_execution_date": "data_interval_end",
    "next_ds": "{{ data_interval_end | ds }}",
    "next_ds_nodash": "{{ data_interval_end | ds_nodash }}",
    "prev_execution_date": "prev_data_interval_start_success",
    "prev_execution_date_success": "prev_data_interval_start_success",
    "prev_ds": "{{ prev_data_interval_start_success | ds }}",
    "prev_ds_nodash": "{{ prev_data_interval_start_success | ds_nodash }}",
    "tomorrow_ds": "{{ macros.ds_add(ds, 1) }}",
    "tomorrow_ds_nodash": "{{ macros.ds_format(macros.ds_add(ds, 1), '%Y-%m-%d', '%Y%m%d') }}",
    "yesterday_ds": "{{ macros.ds_add(ds, -1) }}",
    "yesterday_ds_nodash": "{{ macros.ds_format(macros.ds_add(ds, -1), '%Y-%m-%d', '%Y%m%d') }}",
    "conf": "`from airflow.configuration import conf` in the task's code",
    "triggering_dataset_events": "triggering_asset_events",
}
# Values whose meaning moves under a trigger timetable: logical_date becomes the run time instead of the start
# of the data interval, and data_interval_start equals data_interval_end. data_interval_end (the run time on both)
# and the *_end_success values keep their meaning. The removed keys derived from execution_date count too.
DATA_INTERVAL_KEYS = frozenset(
    {
        "logical_date", "data_interval_start", "ds", "ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz",
        "prev_data_interval_start_success", "execution_date", "next_ds", "next_ds_nodash", "next_execution_date",
        "prev_ds", "prev_ds_nodash", "prev_execution_date", "prev_execution_date_success", "tomorrow_ds",
        "tomorrow_ds_nodash", "yesterday_ds", "yesterday_ds_nodash",
    }
)  # fmt: skip
CONTEXT_KEYS = frozenset(REMOVED_CONTEXT_KEYS) | DATA_INTERVAL_KEYS
# attributes of a DagRun / TaskInstance that carry the same values
_DATE_ATTRIBUTES = frozenset({"logical_date", "data_interval_start", "execution_date"})
_RUN_OBJECTS = frozenset({"ti", "task_instance", "dag_run", "dagrun", "dr"})
_CONTEXT_NAMES = frozenset({"context", "kwargs", "ctx", "kw", "ti_context", "templates_context"})
_CALLBACKS = frozenset(
    {"on_success_callback", "on_failure_callback", "on_retry_callback", "on_execute_callback",
     "on_skipped_callback", "sla_miss_callback"}
)  # fmt: skip
_TEMPLATE = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.DOTALL)
_TEMPLATE_NAME = re.compile(r"(?<![\w'\".])([A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)(?![\w'\"])")
TEMPLATE_FILE_SUFFIXES = frozenset({".sql", ".hql", ".sh", ".bash", ".j2", ".jinja", ".jinja2", ".tpl", ".txt"})
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


@dataclass(frozen=True, order=True)
class ContextRead:
    """A task reading one context value: where, which key, and how (template, context lookup, callable
    parameter, attribute)."""

    path: str
    line: int
    key: str
    how: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.key} ({self.how})"


def dag_folder_findings(dags_folder: Path) -> dict[str, list[Finding]]:
    """Every finding in the folder, grouped by relative file path, sorted by line; a file's group also holds the
    findings of the folder's modules it imports (a helper module is no DAG file, its code runs in the DAG's tasks)."""
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for finding in [*ruff_findings(dags_folder), *source_findings(dags_folder)]:
        grouped[finding.path].append(finding)
    for path, imported in local_imports(dags_folder).items():
        for module in imported:
            grouped[path].extend(grouped.get(module, []))
    return {path: sorted(set(items)) for path, items in grouped.items() if items}


def ruff_findings(dags_folder: Path) -> list[Finding]:
    command = [
        sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--exit-zero", "--output-format", "json",
        "--select", ",".join(RUFF_RULES), str(dags_folder),
    ]  # fmt: skip
    try:
        completed = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    except subprocess.TimeoutExpired:
        raise ProbeError(f"ruff took longer than 600 s on {dags_folder}; is it a DAGs folder?") from None
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
    reads = context_reads(dags_folder)
    for path, tree in _parsed_files(dags_folder):
        findings += [_removed_key_finding(read) for read in reads.get(path, []) if _is_removed(read)]
        findings += _top_level_findings(tree, path)
    return findings


def context_reads(dags_folder: Path) -> dict[str, list[ContextRead]]:
    """Every context value each DAG file's tasks read, by relative path of the .py file, sorted by line."""
    templates = _template_files(dags_folder)
    grouped: dict[str, list[ContextRead]] = {}
    for path, tree in _parsed_files(dags_folder):
        reads = _ModuleReads(path, templates).collect(tree)
        grouped[path] = sorted(set(reads))
    return grouped


def data_interval_reads(dags_folder: Path) -> dict[str, list[ContextRead]]:
    """The reads of values that change meaning when a cron/timedelta schedule becomes a trigger timetable, per
    file, with those of the folder's modules it imports."""
    reads = context_reads(dags_folder)
    imports = local_imports(dags_folder)
    found = {}
    for path in reads:
        mine = [*reads[path], *(read for module in sorted(imports.get(path, ())) for read in reads.get(module, []))]
        if any(read.key in DATA_INTERVAL_KEYS for read in mine):
            found[path] = [read for read in mine if read.key in DATA_INTERVAL_KEYS]
    return found


def local_imports(dags_folder: Path) -> dict[str, set[str]]:
    """The folder's own modules each file imports, transitively (Airflow puts the DAGs folder on sys.path, so
    `from common.dates import window` is common/dates.py there)."""
    direct: dict[str, set[str]] = {}
    for path, tree in _parsed_files(dags_folder):
        direct[path] = {module for name in _imported_names(tree, path) for module in _module_files(dags_folder, name)}
    closure: dict[str, set[str]] = {}
    for path in direct:
        seen: set[str] = set()
        pending = list(direct[path])
        while pending:
            module = pending.pop()
            if module not in seen and module != path:
                seen.add(module)
                pending.extend(direct.get(module, ()))
        closure[path] = seen
    return closure


def _imported_names(tree: ast.Module, path: str) -> Iterator[str]:
    package = path.rsplit("/", 1)[0].replace("/", ".") if "/" in path else ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parents = package.split(".") if package else []
                parents = parents[: len(parents) - (node.level - 1)] if node.level > 1 else parents
                base = ".".join([*parents, *([base] if base else [])])
            if base:
                yield base
            yield from (f"{base}.{alias.name}" if base else alias.name for alias in node.names)


def _module_files(dags_folder: Path, name: str) -> list[str]:
    relative = name.replace(".", "/")
    candidates = (f"{relative}.py", f"{relative}/__init__.py")
    return [candidate for candidate in candidates if (dags_folder / candidate).is_file()]


def _is_removed(read: ContextRead) -> bool:
    if read.how.startswith("attribute"):
        return read.key == "execution_date"
    return read.key in REMOVED_CONTEXT_KEYS


def _removed_key_finding(read: ContextRead) -> Finding:
    replacement = REMOVED_CONTEXT_KEYS[read.key]
    if read.how.startswith("template"):
        code, what = "TPL3", f"template variable {read.key!r}"
    elif read.how.startswith("attribute"):
        code, what, replacement = "CTX3", f"attribute {read.key!r}", "logical_date"
    else:
        code, what = "CTX3", f"context key {read.key!r}"
    message = f"{what} was removed in Airflow 3 ({read.how}); use {replacement}"
    return Finding(read.path, read.line, code, message, True)


def _parsed_files(dags_folder: Path) -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(dags_folder.rglob("*.py")):
        relative = path.relative_to(dags_folder).as_posix()
        try:
            yield relative, ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=relative)
        except SyntaxError:
            continue  # the import test reports it, with Python's own message


def _template_files(dags_folder: Path) -> dict[str, list[tuple[int, str, str]]]:
    """Template files in the folder by file name: (line, key, how) of every context value they read."""
    found: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for path in sorted(dags_folder.rglob("*")):
        if path.suffix.lower() not in TEMPLATE_FILE_SUFFIXES or not path.is_file():
            continue
        relative = path.relative_to(dags_folder).as_posix()
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in _TEMPLATE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            for key, how in _template_keys(match.group(0)):
                found[path.name].append((line, key, f"{how} in {relative}:{line}"))
    return found


def _template_keys(block: str) -> Iterator[tuple[str, str]]:
    """Context variables a Jinja block reads (`ds`, not the filter in `x | ds`), and date attributes
    (`dag_run.logical_date`)."""
    for match in _TEMPLATE_NAME.finditer(block):
        first, *attributes = [part.strip() for part in match.group(1).split(".")]
        is_filter = block[: match.start()].rstrip().endswith("|")
        if first in CONTEXT_KEYS and not is_filter:
            yield first, f"template {block.strip()!r}"
        for attribute in attributes:
            if attribute in _DATE_ATTRIBUTES:
                yield attribute, f"attribute in template {block.strip()!r}"


class _ModuleReads:
    """The context reads of one module, following each way a task reaches its context."""

    def __init__(self, path: str, templates: dict[str, list[tuple[int, str, str]]]) -> None:
        self.path = path
        self.templates = templates
        self.reads: list[ContextRead] = []

    def collect(self, tree: ast.Module) -> list[ContextRead]:
        docstrings = _docstrings(tree)
        functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda]] = defaultdict(list)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions[node.name].append(node)
        task_callables, context_parameters = self._callables(tree, functions)
        context_names: dict[int, set[str]] = defaultdict(set)  # id(function) -> names that hold its context
        for function in task_callables:
            self._parameters(function)
            if function.args.kwarg is not None:
                context_names[id(function)].add(function.args.kwarg.arg)
        for function, name in context_parameters:
            context_names[id(function)].add(name)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                names = context_names[id(node)] | _current_context_names(node)
                for inner in ast.walk(node):
                    self._lookup(inner, names)
            elif id(node) not in docstrings:
                self._lookup(node, set())
                self._template(node)
                self._attribute(node)
        return self.reads

    def _add(self, node: ast.AST, key: str, how: str) -> None:
        self.reads.append(ContextRead(self.path, getattr(node, "lineno", 0), key, how))

    def _callables(self, tree: ast.Module, functions: dict) -> tuple[list, list[tuple[ast.AST, str]]]:
        """Task callables (their parameters and **kwargs come from the context), and (function, parameter) of
        functions handed the context as one argument: callbacks, and execute(self, context) of operators."""
        tasks: list = []
        context_parameters: list[tuple[ast.AST, str]] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if any(_is_task_decorator(decorator) for decorator in node.decorator_list):
                    tasks.append(node)
                positional = [*node.args.posonlyargs, *node.args.args]
                if node.name in {"execute", "poke", "execute_complete"} and len(positional) >= 2:
                    context_parameters.append((node, positional[1].arg))
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "python_callable":
                        tasks += _referenced(keyword.value, functions)
                    elif keyword.arg in _CALLBACKS:
                        for function in _referenced(keyword.value, functions):
                            positional = [*function.args.posonlyargs, *function.args.args]
                            if positional:
                                context_parameters.append((function, positional[0].arg))
                if _callee_name(node).endswith(("PythonOperator", "PythonSensor")) and node.args:
                    tasks += _referenced(node.args[0], functions)
        return tasks, context_parameters

    def _parameters(self, function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        name = getattr(function, "name", "<lambda>")
        for argument in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]:
            if argument.arg in CONTEXT_KEYS:
                self._add(argument, argument.arg, f"parameter of task callable {name}()")

    def _lookup(self, node: ast.AST, names: set[str]) -> None:
        """context['key'] / context.get('key') on a name that holds the context, or get_current_context()."""
        if isinstance(node, ast.Subscript) and _holds_context(node.value, names):
            key = node.slice
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and _holds_context(node.func.value, names)
            and node.args
        ):
            key = node.args[0]
        else:
            return
        if isinstance(key, ast.Constant) and key.value in CONTEXT_KEYS:
            self._add(node, key.value, f"{ast.unparse(node)}")

    def _template(self, node: ast.AST) -> None:
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            return
        text = node.value
        if "{{" in text or "{%" in text:
            for block in _TEMPLATE.findall(text):
                for key, how in _template_keys(block):
                    self._add(node, key, how)
        name = text.strip().rsplit("/", 1)[-1]
        if name in self.templates:  # a template file the task renders (bash_command="run.sh", sql="q.sql")
            for _, key, how in self.templates[name]:
                self._add(node, key, f"template file: {how}")

    def _attribute(self, node: ast.AST) -> None:
        if isinstance(node, ast.Attribute) and node.attr in _DATE_ATTRIBUTES and isinstance(node.ctx, ast.Load):
            value = node.value
            named = value.id if isinstance(value, ast.Name) else None
            if isinstance(value, ast.Subscript) and isinstance(value.slice, ast.Constant):
                named = str(value.slice.value)
            if node.attr != "execution_date" or named in _RUN_OBJECTS:
                self._add(node, node.attr, f"attribute {ast.unparse(node)}")


def _docstrings(tree: ast.Module) -> set[int]:
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _is_task_decorator(decorator: ast.AST) -> bool:
    """@task, @task.branch, @task.virtualenv, @airflow.sdk.task(...), @short_circuit_task, ..."""
    parts = _dotted(decorator).split(".")
    return any(part == "task" or part.endswith("_task") for part in parts)


def _callee_name(call: ast.Call) -> str:
    return _dotted(call.func).rsplit(".", 1)[-1]


def _referenced(node: ast.AST, functions: dict) -> list:
    """The function definitions an expression names: f, self.f / module.f, lambda, functools.partial(f, ...)."""
    if isinstance(node, ast.Lambda):
        return [node]
    if isinstance(node, ast.Name):
        return list(functions.get(node.id, []))
    if isinstance(node, ast.Attribute):
        return list(functions.get(node.attr, []))
    if isinstance(node, ast.Call) and _callee_name(node) == "partial" and node.args:
        return _referenced(node.args[0], functions)
    return []


def _current_context_names(function: ast.AST) -> set[str]:
    """Names assigned from get_current_context() inside a function."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and _is_get_current_context(node.value):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def _is_get_current_context(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and _callee_name(node) == "get_current_context"


def _holds_context(node: ast.AST, names: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in names or node.id in _CONTEXT_NAMES
    return _is_get_current_context(node)


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
