"""The Allure HTML report, generated with the npm `allure` package (Allure 3) when Node.js is on this machine.

One self-contained HTML file (Allure 3's `singleFile`), so it opens from disk without a web server, with our
failure categories (Allure 3 reads them from its configuration, not from categories.json) and the history of
earlier runs (`historyPath`: trends, new failures, fixed and flaky checks). The package is installed once into
the tool's cache (npm's registry is the only network it needs); without Node, or without the registry, the HTML
report is skipped with a message and the sign-off summary remains.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from mwaa_verify import progress
from mwaa_verify.report.allure_results import allure3_config

ALLURE_NPM = "allure@3.18.0"
ALLURE_HISTORY_FILE = "allure-history.jsonl"


def allure_cli(cache_dir: Path) -> Path | None:
    """The allure command, installed into the cache on first use; None (with the reason said) when it cannot be."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        progress.say(
            "Node.js is not installed: skipping the Allure HTML report (the summary is complete without it); to get "
            "it, install Node.js with npm (Debian: apt-get install nodejs npm) and run `mwaa-verify report`"
        )
        return None
    prefix = cache_dir / "node" / ALLURE_NPM.replace("@", "-")
    cli = prefix / "node_modules" / ".bin" / "allure"
    if not cli.exists():
        with progress.step(f"installing {ALLURE_NPM} from npm into {prefix} (once)"):
            prefix.mkdir(parents=True, exist_ok=True)
            installed = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix), ALLURE_NPM],
                capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
            )  # fmt: skip
        if installed.returncode != 0 or not cli.exists():
            progress.say(f"could not install {ALLURE_NPM}: {installed.stderr.strip()[-300:]}; skipping the HTML report")
            return None
    return cli


def generate_html(results_dir: Path, out_dir: Path, cache_dir: Path, title: str, history_dir: Path) -> Path | None:
    """out_dir/index.html from results_dir, adding this run to the Allure history kept in history_dir; None
    (with the reason said) when it cannot be made: the HTML report never costs the run its sign-off summary."""
    try:
        return _generate(results_dir, out_dir, cache_dir, title, history_dir)
    except (subprocess.SubprocessError, OSError) as exc:
        what = f"took longer than {exc.timeout:.0f} s" if isinstance(exc, subprocess.TimeoutExpired) else str(exc)
        progress.say(f"skipping the Allure HTML report: {what}; the sign-off summary is complete without it")
        return None


def _generate(results_dir: Path, out_dir: Path, cache_dir: Path, title: str, history_dir: Path) -> Path | None:
    cli = allure_cli(cache_dir)
    if cli is None:
        return None
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    history_dir.mkdir(parents=True, exist_ok=True)
    config = out_dir.parent / "allurerc.json"
    config.write_text(json.dumps(allure3_config(title, out_dir, history_dir / ALLURE_HISTORY_FILE), indent=2))
    with progress.step(f"generating the Allure HTML report in {out_dir}"):
        generated = subprocess.run(
            [str(cli), "generate", str(results_dir), "--config", str(config)],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600, cwd=out_dir.parent,
        )  # fmt: skip
    config.unlink(missing_ok=True)
    if generated.returncode != 0 or not (out_dir / "index.html").exists():
        progress.say(f"allure generate failed: {(generated.stderr or generated.stdout).strip()[-300:]}")
        return None
    return out_dir / "index.html"
