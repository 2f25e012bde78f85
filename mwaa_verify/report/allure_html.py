"""The Allure HTML report, generated with the npm `allure` package when Node.js is on this machine.

The package is installed once into the tool's cache (npm's registry is the only network it needs); without
Node, or without the registry, the HTML report is skipped with a message and the sign-off summary remains.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from mwaa_verify import progress

ALLURE_NPM = "allure@3.18.0"


def generate_html(results_dir: Path, out_dir: Path, cache_dir: Path, title: str) -> Path | None:
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
    shutil.rmtree(out_dir, ignore_errors=True)
    with progress.step(f"generating the Allure HTML report in {out_dir}"):
        generated = subprocess.run(
            [str(cli), "generate", str(results_dir), "--output", str(out_dir), "--name", title],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
        )  # fmt: skip
    if generated.returncode != 0 or not (out_dir / "index.html").exists():
        progress.say(f"allure generate failed: {(generated.stderr or generated.stdout).strip()[-300:]}")
        return None
    return out_dir / "index.html"
