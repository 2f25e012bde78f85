"""The sign-off summary: one page a release manager reads without Allure, built from ONE run's Allure results.

Results are grouped by the run id every test is labelled with, so results of another run in the same
directory never mix in. The summary leads with the verdict and what changed since the previous run (drift),
then the run's stamp (id, time, command), both environments as configured and as found, warnings, what was
not checked, per-table row counts and pass/fail per suite with each failure's class and reason.
summary.md for review tools and CI pages, summary.html (self-contained, no scripts) for people, summary.json
(validated by summary.schema.json) for machines. Messages are the suites' own, in which secrets are already
redacted.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.report import allure_results as labels
from mwaa_verify.report.runs import RUN_ID_LABEL

SCHEMA_VERSION = 1
_MAX_REASON = 2000
ROW_COUNT_CHECK = "test_table_rows_match"
# the status of a collected test no process reported a result for
LOST = "unknown"
LOST_REASON = (
    "ran on no worker: not checked (the process that was to run it ended first: a crashed pytest-xdist worker "
    "or an interrupted run)"
)
_PART_ID = re.compile(r"-(\d+)of(\d+)$")
_PARITY_LINE = re.compile(
    r"^(?P<table>\S+): source \d+ rows, target \d+ rows: \d+ match, (?P<missing>\d+) missing on the target, "
    r"(?P<changed>\d+) changed, (?P<extra>\d+) only on the target(?P<rest>.*)$"
)


@dataclass(frozen=True)
class RowCounts:
    source: int
    target: int
    matched: int
    note: str = ""  # why the counts differ although the table passes


@dataclass(frozen=True)
class CheckResult:
    suite: str
    check: str
    subject: str  # the table, DAG, file ... the test was about
    status: str
    reason: str
    category: str
    warnings: tuple[str, ...] = ()
    rows: RowCounts | None = None

    @property
    def key(self) -> str:
        return f"{self.suite} / {self.check}" + (f" [{self.subject}]" if self.subject else "")


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    started: str
    finished: str
    command: str


@dataclass(frozen=True)
class RowsMoved:
    table: str
    before: RowCounts
    now: RowCounts


@dataclass(frozen=True)
class Drift:
    """This run against the previous one of the same source and target in the same history."""

    previous_run_id: str | None
    previous_started: str = ""
    new_failures: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    still_failing: tuple[str, ...] = ()
    new_warnings: tuple[str, ...] = ()
    gone_warnings: tuple[str, ...] = ()
    rows_moved: tuple[RowsMoved, ...] = ()
    new_checks: tuple[str, ...] = ()
    gone_checks: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(
            self.new_failures or self.fixed or self.new_warnings or self.gone_warnings or self.rows_moved
            or self.new_checks or self.gone_checks
        )  # fmt: skip

    def headline(self) -> str:
        if self.previous_run_id is None:
            return "first run in this history: nothing to compare with"
        if not self.changed:
            return f"no change since run {self.previous_run_id}"
        parts = [
            f"{len(self.new_failures)} new failure(s)" if self.new_failures else "",
            f"{len(self.fixed)} fixed" if self.fixed else "",
            f"{len(self.new_warnings)} new warning(s)" if self.new_warnings else "",
            f"{len(self.rows_moved)} table(s) whose row counts moved" if self.rows_moved else "",
            f"{len(self.new_checks)} new check(s)" if self.new_checks else "",
            f"{len(self.gone_checks)} check(s) no longer run" if self.gone_checks else "",
        ]
        return f"since run {self.previous_run_id}: " + ", ".join(part for part in parts if part)


@dataclass
class Summary:
    run: RunInfo
    environments: dict[str, dict[str, str]]
    results: list[CheckResult]
    suites: tuple[str, ...] = ()  # the suites this run selected (their Allure feature names)
    drift: Drift | None = None
    links: dict[str, str] = field(default_factory=dict)  # name -> path relative to the summary

    @property
    def counts(self) -> Counter[str]:
        return Counter(result.status for result in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [result for result in self.results if result.status in {"failed", "broken"}]

    @property
    def not_checked(self) -> list[CheckResult]:
        return [result for result in self.results if result.status not in {"passed", "failed", "broken"}]

    @property
    def unchecked_suites(self) -> list[str]:
        """Suites of this run in which no check ran to a verdict: an area the sign-off says nothing about."""
        decided = {result.suite for result in self.results if result.status in {"passed", "failed", "broken"}}
        return [suite for suite in self._suite_names() if suite not in decided]

    @property
    def suites_not_run(self) -> list[str]:
        """Bundled suites this run did not include (--suite chose others): areas the sign-off does not cover."""
        if not self.suites:
            return []  # results of a session that did not record its suites
        return [feature for feature, _severity in labels.SUITES.values() if feature not in self.suites]

    @property
    def lost(self) -> list[CheckResult]:
        """Collected checks that no process ran to any result (a crashed xdist worker, an interrupted run)."""
        return [result for result in self.results if result.status == LOST]

    @property
    def signed_off(self) -> bool:
        """No check failed, none was lost, and at least one passed. A suite that was entirely not applicable
        does not block the sign-off, but the verdict line names it (see README: what a sign-off covers)."""
        return not self.failures and not self.lost and self.counts["passed"] > 0

    @property
    def warnings(self) -> list[tuple[CheckResult, str]]:
        return [(result, warning) for result in self.results for warning in result.warnings]

    def verdict(self) -> str:
        counts = self.counts
        totals = ", ".join(
            f"{counts[status]} {word}"
            for status, word in (("passed", "passed"), ("failed", "failed"), ("broken", "broken"))
            if counts[status]
        )
        unchecked = len(self.not_checked)
        totals += f", {unchecked} not checked" if unchecked else ""
        if self.failures:
            return f"NOT READY FOR CUTOVER: {len(self.failures)} check(s) failed ({totals})"
        if self.lost:
            return f"NOT SIGNED OFF: {len(self.lost)} check(s) ran on no worker and were not checked ({totals})"
        if not self.signed_off:
            return f"NOT SIGNED OFF: no check ran to a verdict ({totals or 'no results'})"
        not_run = f"; suites not run: {', '.join(self.suites_not_run)}" if self.suites_not_run else ""
        if self.unchecked_suites:
            return (
                f"SIGNED OFF EXCEPT {', '.join(self.unchecked_suites).upper()} (NOT CHECKED AT ALL): every check "
                f"that ran passed ({totals}{not_run})"
            )
        return f"SIGNED OFF: every check passed ({totals}{not_run})"

    def row_counts(self) -> list[tuple[str, RowCounts, str]]:
        return [
            (result.subject, result.rows, result.status)
            for result in self.results
            if result.rows is not None and result.check == ROW_COUNT_CHECK
        ]

    def _suite_names(self) -> list[str]:
        names = list(self.suites)
        names += [result.suite for result in self.results if result.suite not in names]
        return list(dict.fromkeys(names))

    def by_suite(self) -> dict[str, list[CheckResult]]:
        grouped: dict[str, list[CheckResult]] = {suite: [] for suite in self._suite_names()}
        for result in self.results:
            grouped[result.suite].append(result)
        return grouped

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "schema_version": SCHEMA_VERSION,
            "verdict": self.verdict(),
            "signed_off": self.signed_off,
            "run": asdict(self.run),
            "environments": self.environments,
            "counts": {status: counts[status] for status in ("passed", "failed", "broken", "skipped")},
            "drift": None if self.drift is None else {**asdict(self.drift), "headline": self.drift.headline()},
            "links": self.links,
            "warnings": [{"check": result.key, "warning": warning} for result, warning in self.warnings],
            "not_checked": {
                "suites": self.unchecked_suites,
                "suites_not_run": self.suites_not_run,
                "checks": [{"check": result.key, "reason": result.reason} for result in self.not_checked],
            },
            "row_counts": [
                {"table": table, **asdict(counts_), "status": status} for table, counts_, status in self.row_counts()
            ],
            "results": [{**asdict(result), "key": result.key} for result in self.results],
        }


def read_results(results_dir: Path, run_id: str | None = None) -> Summary:
    """One run's summary: `run_id`'s results, or those of the run that finished last in `results_dir`."""
    if not results_dir.is_dir():
        raise MwaaVerifyError(f"{results_dir} does not exist; run the suites with --alluredir {results_dir} first")
    runs: dict[str, dict[str, dict]] = defaultdict(dict)
    for path in results_dir.glob("*-result.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a result file still being written by a run that has not finished
        run = next((label.get("value", "") for label in data.get("labels", []) if label["name"] == RUN_ID_LABEL), "")
        key = data.get("historyId") or data.get("fullName") or path.name
        if key not in runs[run] or data.get("stop", 0) >= runs[run][key].get("stop", 0):
            runs[run][key] = data  # a retried test: its last attempt
    if not runs:
        raise MwaaVerifyError(
            f"{results_dir} holds no test results; run `mwaa-verify run` (or pytest suites --alluredir "
            f"{results_dir}) first"
        )
    if run_id is None:
        run_id = max(runs, key=lambda run: max(data.get("stop", 0) for data in runs[run].values()))
    elif run_id not in runs:
        raise MwaaVerifyError(f"{results_dir} holds no results of run {run_id}; runs there: {', '.join(sorted(runs))}")
    record_path = results_dir / labels.run_record_name(run_id)
    record = json.loads(record_path.read_text(encoding="utf-8")) if run_id and record_path.is_file() else {}
    shares = [_check(data) for data in runs[run_id].values()]
    reported = {_label(data, labels.TEST_ID_LABEL) for data in runs[run_id].values()}
    shares += [_lost(nodeid) for nodeid in record.get("tests", ()) if nodeid not in reported]
    results = sorted(_merged_shares(shares), key=lambda r: (r.suite, r.check, r.subject))
    info = RunInfo(
        run_id=run_id or "(unlabelled results)",
        started=record.get("started", ""),
        finished=record.get("finished", ""),
        command=record.get("command", ""),
    )
    environments = record.get("environments") or _environments(results_dir / "environment.properties")
    return Summary(info, environments, results, tuple(record.get("suites", ())))


def _label(data: dict, name: str) -> str:
    return next((label.get("value", "") for label in data.get("labels", []) if label["name"] == name), "")


def _check(data: dict) -> tuple[CheckResult, str]:
    """A result, and which shard of its check it covers ("" for a whole check)."""
    found: dict[str, list[str]] = defaultdict(list)
    for label in data.get("labels", []):
        if "value" in label:  # allure-pytest writes `package` without one for a module at the rootdir
            found[label["name"]].append(label["value"])
    first = {name: values[0] for name, values in found.items()}
    # a placeholder parameter (a test generated with nothing to check gets the value None) is no subject, and
    # a shard is a share of its check, not a subject of its own
    parameters = [
        f"{item['value']}"
        for item in data.get("parameters", [])
        if item.get("value") != "None" and item.get("name") != labels.SHARD_PARAMETER
    ]
    message = (data.get("statusDetails") or {}).get("message") or ""
    status = data.get("status", "unknown")
    category = labels.category_of(status, message) if status in {"failed", "broken"} else ""
    reason = message.strip().splitlines()[0] if message.strip() else ""
    reason = reason.removeprefix("AssertionError: ").removeprefix("Failed: ").removeprefix("Skipped: ")
    rows = None
    if labels.ROWS_SOURCE in first:
        rows = RowCounts(
            int(first[labels.ROWS_SOURCE]),
            int(first[labels.ROWS_TARGET]),
            int(first[labels.ROWS_MATCHED]),
            first.get(labels.ROWS_NOTE, ""),
        )
    result = CheckResult(
        suite=first.get("feature") or _suite_of(first, data),
        check=first.get("story", data.get("name", "")),
        subject=", ".join(parameters).strip("'\""),
        status=status,
        reason=reason[:_MAX_REASON] + ("…" if len(reason) > _MAX_REASON else ""),
        category=category,
        warnings=tuple(found.get(labels.WARNING_LABEL, ())),
        rows=rows,
    )
    return result, first.get(labels.SHARD_LABEL, "")


def _lost(nodeid: str) -> tuple[CheckResult, str]:
    """A collected test without a result, as the summary names it: suite, check, subject from its node id."""
    path, _, name = nodeid.partition("::")
    check, _, subject = name.partition("[")
    subject = subject.removesuffix("]")
    part = _PART_ID.search(subject)
    share = f"{part.group(1)}/{part.group(2)}" if part else ""
    module = Path(path).stem
    suite = labels.SUITES.get(module, ("Other checks", ""))[0]
    subject = _PART_ID.sub("", subject) if part else subject
    return CheckResult(suite, check, subject, LOST, LOST_REASON, ""), share


def _merged_shares(shares: list[tuple[CheckResult, str]]) -> list[CheckResult]:
    """One result per check: the shards of a split check added up into the row a whole check gives."""
    whole = [result for result, share in shares if not share]
    split: dict[tuple[str, str, str], list[tuple[CheckResult, str]]] = defaultdict(list)
    for result, share in shares:
        if share:
            split[(result.suite, result.check, result.subject)].append((result, share))
    return whole + [_merge(sorted(parts, key=lambda part: int(part[1].split("/")[0]))) for parts in split.values()]


def _merge(parts: list[tuple[CheckResult, str]]) -> CheckResult:
    results = [result for result, _share in parts]
    failed = [result for result in results if result.status in {"failed", "broken"}]
    expected = int(parts[0][1].split("/")[1])
    missing_shares = expected - len({share for _result, share in parts})
    if failed:
        status = "broken" if all(result.status == "broken" for result in failed) else "failed"
    elif missing_shares or any(result.status == LOST for result in results):
        status = LOST
    elif all(result.status == "skipped" for result in results):
        status = "skipped"
    else:
        status = "passed" if all(result.status == "passed" for result in results) else LOST
    counted = [result.rows for result in results if result.rows is not None]
    rows = None
    if counted and len(counted) == len(results):
        note = next((counts.note for counts in counted if counts.note), "")
        rows = RowCounts(*(sum(getattr(c, name) for c in counted) for name in ("source", "target", "matched")), note)
    if failed:
        reason = _merged_parity_line(results, rows) or "; ".join(f"{share}: {r.reason}" for r, share in parts)
    elif status == LOST:
        reason = LOST_REASON
    else:
        reason = results[0].reason
    first = failed[0] if failed else results[0]
    warnings = tuple(dict.fromkeys(warning for result in results for warning in result.warnings))
    category = first.category if failed else ""
    return CheckResult(first.suite, first.check, first.subject, status, reason, category, warnings, rows)


def _merged_parity_line(results: list[CheckResult], rows: RowCounts | None) -> str:
    """A parity failure's first line for the whole table, from its shards' lines and counts (the line a check of
    the whole table gives); "" when a shard's line is not one."""
    if rows is None:
        return ""
    totals = Counter[str]()
    table, rest = "", ""
    for result in results:
        if result.status == "passed":
            continue  # a passing shard of a keyed table: nothing missing, changed or extra
        found = _PARITY_LINE.match(result.reason)
        if found is None:
            return ""
        table, rest = found["table"], found["rest"]
        totals.update({name: int(found[name]) for name in ("missing", "changed", "extra")})
    return (
        f"{table}: source {rows.source} rows, target {rows.target} rows: {rows.matched} match, {totals['missing']} "
        f"missing on the target, {totals['changed']} changed, {totals['extra']} only on the target{rest}"
    )


def _suite_of(first: dict[str, str], data: dict) -> str:
    """The suite of a result without our labels (one skipped before any fixture ran): from its module."""
    module = first.get("suite") or str(data.get("fullName", "")).split("#", 1)[0].rsplit(".", 1)[-1]
    for name, (feature, _severity) in labels.SUITES.items():
        if module == name or module.endswith(f".{name}"):
            return feature
    return "Other checks"


def _environments(path: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = defaultdict(dict)
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            key, separator, value = line.partition("=")
            if not separator:
                continue
            role, _, name = key.partition(".")
            found[role][name] = value.replace("\\:", ":").replace("\\=", "=")
    return dict(found)


def schema() -> dict[str, Any]:
    return json.loads((resources.files("mwaa_verify") / "report" / "summary.schema.json").read_text("utf-8"))


def write_summary(
    summary: Summary, out_dir: Path, links: dict[str, Path | None] | None = None, link_base: Path | None = None
) -> tuple[Path, Path, Path]:
    """summary.md, summary.html and summary.json in `out_dir`, links made relative to `link_base` (where the
    files will be read from; default: `out_dir`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base = link_base or out_dir
    summary.links = {name: os.path.relpath(path, base) for name, path in (links or {}).items() if path is not None}
    markdown, page, data = out_dir / "summary.md", out_dir / "summary.html", out_dir / "summary.json"
    markdown.write_text(to_markdown(summary), encoding="utf-8")
    page.write_text(to_html(summary), encoding="utf-8")
    data.write_text(json.dumps(summary.to_dict(), indent=2), encoding="utf-8")
    return markdown, page, data


def environment_lines(summary: Summary) -> list[str]:
    lines = []
    for role, values in sorted(summary.environments.items(), key=lambda item: item[0] != "source"):
        configured = values.get("configured_airflow")
        found = f"running Airflow {values.get('airflow', '?')}, Python {values.get('python', '?')}"
        if values.get("database"):
            found += f", metadata on {values['database']}"
        kind = values.get("kind", "?")
        as_configured = f"kind {kind}" + (f", Airflow {configured} as configured" if configured else "")
        lines.append(f"{role}: {values.get('name', '?')} ({as_configured}; {found})")
    return lines


def stamp_lines(summary: Summary) -> list[str]:
    run = summary.run
    when = f"started {run.started}" + (f", finished {run.finished}" if run.finished else "") if run.started else ""
    return [line for line in (f"run {run.run_id}" + (f", {when}" if when else ""), run.command) if line]


def _reason(result: CheckResult) -> str:
    return f"{result.category}: {result.reason}" if result.category else result.reason


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _drift_lines(drift: Drift) -> list[str]:
    lines = []
    for title, items in (
        ("new failure", drift.new_failures),
        ("fixed", drift.fixed),
        ("new warning", drift.new_warnings),
        ("warning gone", drift.gone_warnings),
        ("new check", drift.new_checks),
        ("no longer run", drift.gone_checks),
    ):
        lines += [f"{title}: {item}" for item in items]
    for moved in drift.rows_moved:
        before, now = moved.before, moved.now
        lines.append(
            f"rows moved: {moved.table}: source {before.source} -> {now.source}, target {before.target} -> "
            f"{now.target}, matched {before.matched} -> {now.matched}"
        )
    if drift.still_failing:
        lines.append(f"still failing: {len(drift.still_failing)} check(s)")
    return lines


def to_markdown(summary: Summary) -> str:
    lines = ["# Migration sign-off summary", "", f"**{summary.verdict()}**", ""]
    if summary.drift is not None:
        lines += [f"## Since the previous run: {summary.drift.headline()}", ""]
        changes = _drift_lines(summary.drift)
        lines += [f"- {_md(line)}" for line in changes] + ([""] if changes else [])
    lines += [f"- {_md(line)}" for line in [*stamp_lines(summary), *environment_lines(summary)]]
    lines += [f"- {name}: `{path}`" for name, path in summary.links.items()] + [""]
    if summary.warnings:
        lines += [f"## Warnings ({len(summary.warnings)})", ""]
        lines += [f"- {_md(result.key)}: {_md(warning)}" for result, warning in summary.warnings] + [""]
    if summary.not_checked or summary.unchecked_suites or summary.suites_not_run:
        lines += [f"## Not checked ({_not_checked_count(summary)})", ""]
        lines += [f"- **{suite}: no check ran to a verdict**" for suite in summary.unchecked_suites]
        lines += [f"- **{suite}: not run** (not selected with --suite)" for suite in summary.suites_not_run]
        lines += [f"- {_md(result.key)}: {_md(result.reason)}" for result in summary.not_checked] + [""]
    if summary.row_counts():
        lines += ["## Rows per table", "", "| table | source | target | matched | result | note |", "|---" * 6 + "|"]
        lines += [
            f"| {_md(table)} | {c.source} | {c.target} | {c.matched} | {status} | {_md(c.note)} |"
            for table, c, status in summary.row_counts()
        ] + [""]
    for suite, results in summary.by_suite().items():
        counts = Counter(result.status for result in results)
        lines += [f"## {suite}: {counts['passed']} passed, {counts['failed'] + counts['broken']} failed, "
                  f"{len(results) - counts['passed'] - counts['failed'] - counts['broken']} not checked", "",
                  "| check | subject | result | reason |", "|---|---|---|---|"]  # fmt: skip
        for result in _ordered(results):
            lines.append(f"| {_md(result.check)} | {_md(result.subject)} | {result.status} | {_md(_reason(result))} |")
        lines.append("")
    return "\n".join(lines)


def _not_checked_count(summary: Summary) -> str:
    """What the Not checked heading counts: checks, and whole suites apart where there are any."""
    checks = f"{len(summary.not_checked)} check(s)"
    suites = len(summary.unchecked_suites) + len(summary.suites_not_run)
    return f"{checks}, {suites} whole suite(s)" if suites else checks


def _ordered(results: list[CheckResult]) -> list[CheckResult]:
    rank = {"failed": 0, "broken": 0, "passed": 2}
    return sorted(results, key=lambda result: rank.get(result.status, 1))


_STYLE = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:1rem;max-width:80rem;
color:#1f2328;overflow-wrap:break-word}
td.r{overflow-wrap:anywhere;min-width:12rem}
h1{font-size:1.5rem;margin:.2rem 0 .8rem}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}
.verdict{font-size:1.15rem;font-weight:600;padding:.7rem .9rem;border-radius:6px;margin:0 0 1rem}
.ok{background:#dafbe1;border:1px solid #4ac26b}.ko{background:#ffebe9;border:1px solid #ff8182}
.gap{background:#fff8c5;border:1px solid #d4a72c}
ul{padding-left:1.2rem;margin:.3rem 0}li{margin:.15rem 0}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem}
td,th{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.passed{color:#1a7f37}.failed,.broken{color:#cf222e;font-weight:600}.skipped{color:#59636e}
details{margin:.3rem 0 1rem}summary{cursor:pointer;color:#0969da}
code{font-size:.9em}
@media (max-width:44rem){
 body{padding:.6rem;font-size:14px}
 table,thead,tbody,tr,td{display:block;width:100%}
 tr.head{display:none}
 tr{border:1px solid #d0d7de;border-radius:6px;margin:0 0 .6rem;padding:.3rem .5rem}
 td{border:0;padding:.1rem 0;overflow-wrap:anywhere}
 td.r{min-width:0}
 td:empty{display:none}
 td::before{content:attr(data-label) ": ";color:#59636e;font-weight:normal}
 td.n{text-align:left}
}
"""


def _table(headers: list[str], rows: list[list[tuple[str, str]]]) -> str:
    """rows of (css class, text) cells; each cell carries its header for the narrow layout."""
    e = html.escape
    head = "<tr class='head'>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>"
    body = "".join(
        "<tr>"
        + "".join(
            f"<td data-label='{e(h)}'" + (f" class='{css}'" if css else "") + f">{e(text)}</td>"
            for h, (css, text) in zip(headers, row, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def to_html(summary: Summary) -> str:
    e = html.escape
    tone = "ko" if not summary.signed_off else "gap" if summary.unchecked_suites else "ok"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Migration sign-off summary: run {e(summary.run.run_id)}</title><style>{_STYLE}</style></head><body>",
        "<h1>Migration sign-off summary</h1>",
        f"<p class='verdict {tone}'>{e(summary.verdict())}</p>",
    ]
    if summary.drift is not None:
        parts.append(f"<h2>Since the previous run: {e(summary.drift.headline())}</h2>")
        lines = _drift_lines(summary.drift)
        parts.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>" if lines else "")
    parts.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in stamp_lines(summary)))
    parts += [f"<li>{e(line)}</li>" for line in environment_lines(summary)]
    parts += [f"<li><a href='{e(path)}'>{e(name)}</a></li>" for name, path in summary.links.items()]
    parts.append("</ul>")
    if summary.warnings:
        parts.append(f"<h2>Warnings ({len(summary.warnings)})</h2>")
        parts.append(_table(["check", "warning"], [[("", r.key), ("r", w)] for r, w in summary.warnings]))
    if summary.not_checked or summary.unchecked_suites or summary.suites_not_run:
        parts.append(f"<h2>Not checked ({e(_not_checked_count(summary))})</h2>")
        parts += [f"<p class='verdict gap'>{e(s)}: no check ran to a verdict</p>" for s in summary.unchecked_suites]
        if summary.suites_not_run:
            names = ", ".join(summary.suites_not_run)
            parts.append(f"<p><strong>Not run</strong> (not selected with --suite): {e(names)}</p>")
        parts.append(_table(["check", "why"], [[("", r.key), ("r skipped", r.reason)] for r in summary.not_checked]))
    if summary.row_counts():
        parts.append("<h2>Rows per table</h2>")
        parts.append(
            _table(
                ["table", "source", "target", "matched", "result", "note"],
                [
                    [("", t), ("n", str(c.source)), ("n", str(c.target)), ("n", str(c.matched)), (s, s), ("r", c.note)]
                    for t, c, s in summary.row_counts()
                ],
            )
        )
    headers = ["check", "subject", "result", "reason"]
    for suite, results in summary.by_suite().items():
        counts = Counter(result.status for result in results)
        decided = counts["passed"] + counts["failed"] + counts["broken"]
        parts.append(
            f"<h2>{e(suite)}: {counts['passed']} passed, {counts['failed'] + counts['broken']} failed, "
            f"{len(results) - decided} not checked</h2>"
        )
        if len(results) > decided:
            parts.append(f"<p>{len(results) - decided} not checked: listed under Not checked, with the reason.</p>")
        shown = [r for r in results if r.status in {"failed", "broken"}]
        passed = [r for r in results if r.status == "passed"]
        rows = [[("", r.check), ("", r.subject), (r.status, r.status), ("r", _reason(r))] for r in shown]
        if rows:
            parts.append(_table(headers, rows))
        if passed:
            table = _table(headers, [[("", r.check), ("", r.subject), ("passed", "passed"), ("", "")] for r in passed])
            parts.append(f"<details{' open' if len(passed) <= 20 else ''}><summary>{len(passed)} passed</summary>"
                         f"{table}</details>")  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts)
