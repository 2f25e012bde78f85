"""The sign-off summary: one page a reviewer reads without Allure, written from an Allure results directory.

Pass/fail per suite and per table or DAG, the two environments and their versions, and for every failure its
class and the first line of its reason. summary.md for review tools, summary.html (self-contained, no
scripts) for people. Messages are the suites' own, in which secrets are already redacted.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.report.allure_results import CATEGORIES

_MAX_REASON = 300


@dataclass(frozen=True)
class CheckResult:
    suite: str
    check: str
    subject: str  # the table, DAG, file ... the test was about
    status: str
    reason: str
    category: str


@dataclass(frozen=True)
class Summary:
    environments: dict[str, dict[str, str]]
    results: list[CheckResult]

    @property
    def counts(self) -> Counter[str]:
        return Counter(result.status for result in self.results)

    @property
    def signed_off(self) -> bool:
        return bool(self.results) and not any(result.status in {"failed", "broken"} for result in self.results)


def read_results(results_dir: Path) -> Summary:
    if not results_dir.is_dir():
        raise MwaaVerifyError(f"{results_dir} does not exist; run the suites with --alluredir {results_dir} first")
    latest: dict[str, dict] = {}
    for path in results_dir.glob("*-result.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        key = data.get("historyId") or data.get("fullName") or path.name
        if key not in latest or data.get("stop", 0) >= latest[key].get("stop", 0):
            latest[key] = data
    results = sorted((_check(data) for data in latest.values()), key=lambda r: (r.suite, r.check, r.subject))
    return Summary(_environments(results_dir / "environment.properties"), results)


def _check(data: dict) -> CheckResult:
    labels = {label["name"]: label["value"] for label in data.get("labels", [])}
    parameters = [f"{item['value']}" for item in data.get("parameters", [])]
    message = (data.get("statusDetails") or {}).get("message") or ""
    status = data.get("status", "unknown")
    category = ""
    if status in {"failed", "broken"}:
        category = next(
            (c["name"] for c in CATEGORIES if re.match(c["messageRegex"], message) and status in c["matchedStatuses"]),
            "Other failure",
        )
    reason = message.strip().splitlines()[0] if message.strip() else ""
    reason = reason.removeprefix("AssertionError: ").removeprefix("Failed: ")
    return CheckResult(
        suite=labels.get("feature", labels.get("suite", "Other checks")),
        check=labels.get("story", data.get("name", "")),
        subject=", ".join(parameters).strip("'\""),
        status=status,
        reason=reason[:_MAX_REASON] + ("…" if len(reason) > _MAX_REASON else ""),
        category=category,
    )


def _environments(path: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = defaultdict(dict)
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            role, _, field = key.partition(".")
            found[role][field] = value.replace("\\:", ":").replace("\\=", "=")
    return dict(found)


def write_summary(summary: Summary, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown, page = out_dir / "summary.md", out_dir / "summary.html"
    markdown.write_text(to_markdown(summary), encoding="utf-8")
    page.write_text(to_html(summary), encoding="utf-8")
    return markdown, page


def _verdict(summary: Summary) -> str:
    counts = summary.counts
    totals = ", ".join(f"{counts[s]} {s}" for s in ("passed", "failed", "broken", "skipped") if counts[s])
    if summary.signed_off:
        return f"SIGNED OFF: every check passed ({totals})"
    return f"NOT READY FOR CUTOVER: {counts['failed'] + counts['broken']} check(s) failed ({totals})"


def _environment_lines(summary: Summary) -> list[str]:
    return [
        f"{role}: {values.get('name', '?')} ({values.get('kind', '?')}, Airflow {values.get('airflow', '?')}, "
        f"Python {values.get('python', '?')})"
        for role, values in sorted(summary.environments.items(), key=lambda item: item[0] != "source")
    ]


def _by_suite(summary: Summary) -> dict[str, list[CheckResult]]:
    grouped: dict[str, list[CheckResult]] = defaultdict(list)
    for result in summary.results:
        grouped[result.suite].append(result)
    return dict(grouped)


def to_markdown(summary: Summary) -> str:
    lines = [
        "# Migration sign-off summary",
        "",
        f"**{_verdict(summary)}**",
        "",
        *(f"- {line}" for line in _environment_lines(summary)),
        f"- generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
    ]
    for suite, results in _by_suite(summary).items():
        counts = Counter(result.status for result in results)
        lines += [f"## {suite}: {counts['passed']} passed, {counts['failed'] + counts['broken']} failed, "
                  f"{counts['skipped']} not applicable", "",
                  "| check | subject | result | reason |", "|---|---|---|---|"]  # fmt: skip
        for result in results:
            reason = f"{result.category}: {result.reason}" if result.category else result.reason
            lines.append(f"| {_md(result.check)} | {_md(result.subject)} | {result.status} | {_md(reason)} |")
        lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_STYLE = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;width:100%;"
    "margin-bottom:2em}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}"
    ".passed{color:#1a7f37}.failed,.broken{color:#cf222e;font-weight:bold}.skipped{color:#777}"
    ".verdict{font-size:1.3em;padding:.6em;border-radius:6px}.ok{background:#dafbe1}.ko{background:#ffebe9}"
)


def to_html(summary: Summary) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Migration sign-off summary</title>",
        f"<style>{_STYLE}</style></head><body><h1>Migration sign-off summary</h1>",
        f"<p class='verdict {'ok' if summary.signed_off else 'ko'}'>{e(_verdict(summary))}</p><ul>",
        *(f"<li>{e(line)}</li>" for line in _environment_lines(summary)),
        "</ul>",
    ]
    for suite, results in _by_suite(summary).items():
        counts = Counter(result.status for result in results)
        parts.append(
            f"<h2>{e(suite)}: {counts['passed']} passed, {counts['failed'] + counts['broken']} failed, "
            f"{counts['skipped']} not applicable</h2><table><tr><th>check</th><th>subject</th><th>result</th>"
            "<th>reason</th></tr>"
        )
        for result in results:
            reason = f"{result.category}: {result.reason}" if result.category else result.reason
            parts.append(
                f"<tr><td>{e(result.check)}</td><td>{e(result.subject)}</td>"
                f"<td class='{e(result.status)}'>{e(result.status)}</td><td>{e(reason)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
