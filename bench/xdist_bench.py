"""Benchmark: the suites in one process (`-n 0`) against two xdist workers (`-n 2`) on the same environments.

    python bench/xdist_bench.py --mwaa-config mwaa-verify.toml --source SRC --target TGT [--workers 2]
                                [--suite metadata_parity --suite dag_import]

Each session runs the bundled suites with its own --alluredir; the bench prints the wall seconds of both, the
ratio, and checks that both summaries hold the same rows (the same verdicts, row counts and reasons).
Environments of kind `ephemeral` are provisioned by each session (once, by the controller, under xdist), so
their start-up is part of both figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mwaa_verify.report.summary import read_results
from mwaa_verify.verification import SUITE_NAMES, suites_dir


def session(args: argparse.Namespace, workers: int, results: Path) -> float:
    command = [
        sys.executable, "-m", "pytest", *(str(suites_dir() / f"test_{name}.py") for name in args.suite),
        "--source", args.source, "--target", args.target, "--mwaa-config", str(args.mwaa_config),
        f"--alluredir={results}", "-p", "no:cacheprovider", "-q", "-n", str(workers),
    ]  # fmt: skip
    started = time.monotonic()
    subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=7200)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mwaa-config", type=Path, required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--suite", action="append", choices=SUITE_NAMES)
    args = parser.parse_args()
    args.suite = args.suite or ["metadata_parity", "dag_import"]
    with tempfile.TemporaryDirectory(prefix="mwaa-verify-bench-") as scratch:
        serial = session(args, 0, Path(scratch) / "serial")
        parallel = session(args, args.workers, Path(scratch) / "parallel")
        one, many = read_results(Path(scratch) / "serial"), read_results(Path(scratch) / "parallel")
    same = sorted((r.key, r.status, r.reason, r.rows) for r in one.results) == sorted(
        (r.key, r.status, r.reason, r.rows) for r in many.results
    )
    print(f"-n 0: {serial:7.1f} s  ({len(one.results)} checks: {one.verdict()})")
    print(f"-n {args.workers}: {parallel:7.1f} s  ({len(many.results)} checks: {many.verdict()})")
    print(f"ratio -n {args.workers} / -n 0: {parallel / serial:.2f}x; same summary rows: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
