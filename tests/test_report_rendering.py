"""What a reader's browser shows: the sign-off summary at phone and desktop widths, and the Allure report opened
from disk with our failure categories. Rendered by headless Chromium (Debian's `chromium` package) and, for
Allure, the npm `allure` package under Node.js; where either cannot run these tests fail and say why.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from aws_double import REGION, AwsDouble, ScriptedRestApi
from debian_packages import ensure_commands
from test_run_reports import complete_policy, finish, put_environment, start_run

from mwaa_verify.config import default_cache_dir
from mwaa_verify.report.allure_html import generate_html
from mwaa_verify.report.allure_results import CATEGORIES

CACHE = default_cache_dir()  # read before pytester points HOME elsewhere
SCREENSHOTS = Path(__file__).resolve().parent.parent / "reports" / "screenshots"
LONG_TOKEN = "x" * 500
# a failure message of each class, worded as the suites word them
FAILURES = {
    "Import error": "DAG legacy_etl does not import on Airflow 3.3.1: ModuleNotFoundError: airflow.operators.bash",
    "Missing rows": "dag_run: source 10 rows, target 8 rows: 8 match, 2 missing on the target, 0 changed",
    "Value drift": "variable: source 3 rows, target 3 rows: 2 match, 0 missing on the target, 1 changed",
    "Permission missing": "celery queue: 2 missing permission(s) in execution role new-role: sqs:SendMessage",
    "Log missing": "demo_etl: 1 log(s) missing on the target: extract/attempt=1.log",
}


def chromium() -> str:
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        ensure_commands({"chromium": "chromium"}, "headless Chromium is needed to render the reports")
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found is not None
    return found


def browse(page: Path, *options: str, fragment: str = "") -> str:
    """The DOM of `page` (a file on disk) after its scripts ran, as headless Chromium renders it."""
    if not any(option.startswith("--virtual-time-budget") for option in options):
        options = ("--virtual-time-budget=20000", *options)
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               *options]  # fmt: skip
    if not any(option.startswith("--screenshot") for option in options):
        command.append("--dump-dom")
    command.append(f"file://{page}{fragment}")
    shown = subprocess.run(command, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    if shown.returncode != 0:
        pytest.fail(f"chromium could not render {page}: {shown.stderr.strip()[-500:]}", pytrace=False)
    return shown.stdout


def visible_text(dom: str) -> str:
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def rendered_text(page: Path, fragment: str, until: Callable[[str], bool], attempts: int = 3) -> str:
    """The visible text of a single-page app once it shows what `until` looks for. Its scripts render after the
    data is decoded; on a busy machine Chromium can dump the DOM before that, so the page is opened again (at most
    `attempts` times, each with a longer budget) before the caller's assertions judge what it shows."""
    text = ""
    for attempt in range(1, attempts + 1):
        text = visible_text(browse(page, f"--virtual-time-budget={20000 * attempt}", fragment=fragment))
        if until(text):
            break
    return text


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.fixture(scope="module")
def wide_run(aws: AwsDouble, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`mwaa-verify run` of the DAG import and IAM suites on a target with 200 DAG files and a declared need
    whose resource is one 500-character token: the summary's largest and longest content."""
    put_environment(aws, "prod-2", complete_policy("prod-2"), airflow_version="2.10.3")
    put_environment(aws, "wide", complete_policy("wide"))
    s3 = boto3.client("s3", endpoint_url=aws.url, region_name=REGION)
    for number in range(200):
        s3.put_object(Bucket="wide-dags", Key=f"dags/dag_{number:03d}.py", Body=b"# a DAG\n")
    aws.mwaa.rest_backends["wide"] = ScriptedRestApi(200)
    directory = tmp_path_factory.mktemp("wide")
    config = directory / "mwaa-verify.toml"
    config.write_text(
        f'[verify]\nrequired_permissions = [{{ action = "s3:GetObject", resource = "arn:aws:s3:::{LONG_TOKEN}" }}]\n'
        + "\n".join(
            f'[environments.{name}]\nkind = "mwaa"\nenvironment_name = "{name}"\nregion = "{REGION}"\n'
            f'endpoint_url = "{aws.url}"\n'
            for name in ("prod-2", "wide")
        )
    )
    process = start_run(config, "wide", directory / "reports", "dag_import", "iam_policy")
    code, output, summary, run_dir = finish(process)
    assert code == 1, output
    imports = [result for result in summary["results"] if result["check"] == "test_dag_file_imports_on_the_target"]
    assert len(imports) == 200, output
    assert any(LONG_TOKEN in result["reason"] for result in summary["results"] if result["status"] == "failed"), output
    return run_dir / "summary.html"


@pytest.mark.parametrize("width", [375, 1400])
def test_summary_reads_at_any_width(wide_run: Path, width: int, tmp_path: Path) -> None:
    """No horizontal scrolling at a phone's width or a desktop's: the 500-character token wraps, the 200 DAGs
    stay in the page's width; the screenshots are kept under reports/screenshots for a person to look at."""
    measured = tmp_path / "measured.html"
    measured.write_text(
        wide_run.read_text()
        + "<script>document.querySelectorAll('details').forEach(d => d.open = true);"  # the 200 DAGs shown too
        "document.body.setAttribute('data-overflow', String(document.documentElement.scrollWidth - "
        "window.innerWidth))</script>"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    screenshot = SCREENSHOTS / f"summary-{width}.png"

    dom = browse(measured, f"--window-size={width},900")
    browse(wide_run, f"--window-size={width},2400", f"--screenshot={screenshot}", "--hide-scrollbars")

    overflow = re.search(r'data-overflow="(-?\d+)"', dom)
    assert overflow is not None, "the measuring script did not run"
    assert int(overflow.group(1)) <= 0, f"summary.html scrolls sideways by {overflow.group(1)} px at {width} px"
    assert png_size(screenshot) == (width, 2400)
    text = visible_text(dom)
    assert "NOT READY FOR CUTOVER" in text and "dag_199.py" in text


def test_allure_report_opens_from_disk_with_our_categories(pytester: pytest.Pytester, tmp_path: Path) -> None:
    ensure_commands({"node": "nodejs", "npm": "npm"}, "Node.js and npm are needed for the Allure HTML report")
    pytester.makepyfile(
        "\n".join(f"def test_{n}():\n    assert False, {message!r}\n" for n, message in enumerate(FAILURES.values()))
    )
    results = tmp_path / "allure-results"
    pytester.runpytest_subprocess(f"--alluredir={results}", "-p", "no:cacheprovider")
    history = tmp_path / "history"

    first = generate_html(results, tmp_path / "first", CACHE, "nightly", history)
    page = generate_html(results, tmp_path / "report", CACHE, "nightly", history)

    assert first is not None and page is not None, "allure generate failed (see the progress lines above)"
    assert [path.name for path in page.parent.glob("*.html")] == ["index.html"]  # one file, nothing to serve
    categories = rendered_text(page, "#categories", until=lambda text: all(name in text for name in FAILURES))
    for name in FAILURES:
        assert name in categories, f"{name!r} not on the Categories tab: {categories[:2000]}"
    assert "Product errors" not in categories
    assert {category["name"] for category in CATEGORIES} >= set(FAILURES)
    entries = (history / "allure-history.jsonl").read_text().splitlines()
    assert len(entries) == 2 and all(json.loads(entry) for entry in entries)
