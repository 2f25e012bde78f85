"""Benchmark: seconds per DAG file as the DAG probe parses them, per Airflow version, against a parse that
imports only DagBag before forking each file (what the probe did before it mirrored the dag-processor).

    python bench/dag_parse_bench.py [--versions 3.0.6 3.3.1 2.10.5] [--dags-folder tests/dag_corpus]

Each version runs in its cached virtualenv (built once) with a throwaway AIRFLOW_HOME; the files that import
cleanly are timed (median), so the numbers compare the parser, not the failures. Airflow 3.0 re-imported its
models and the standard provider in every forked child when only DagBag was preloaded; the probe now imports
what the dag-processor's manager holds in memory (and its pre-imports) before forking.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.config import default_cache_dir
from mwaa_verify.environments.virtualenv import ensure_virtualenv

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "mwaa_verify" / "airflow" / "probes" / "dag_probe.py"
ONLY_DAGBAG = """
import inspect, json, os, sys, time
from airflow.models import DagBag
folder, out = sys.argv[1], sys.argv[2]
accepted = inspect.signature(DagBag.__init__).parameters
kwargs = {key: False for key in ("include_examples", "load_op_links") if key in accepted}
times = {}
for name in sorted(os.listdir(folder)):
    if not name.endswith(".py"):
        continue
    read, write = os.pipe()
    if os.fork() == 0:
        started = time.monotonic()
        bag = DagBag(dag_folder=os.path.join(folder, name), **kwargs)
        os.write(write, json.dumps([time.monotonic() - started, not bag.import_errors]).encode())
        os._exit(0)
    os.close(write)
    times[name] = json.loads(os.read(read, 4096))
    os.wait()
json.dump(times, open(out, "w"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", nargs="+", default=["3.0.6", "3.3.1", "2.10.5"])
    parser.add_argument("--dags-folder", type=Path, default=ROOT / "tests" / "dag_corpus")
    args = parser.parse_args()
    print(f"{'version':>8}  {'probe s/file':>12}  {'DagBag-only s/file':>18}  {'probe wall s':>12}")
    for version in args.versions:
        python = ensure_virtualenv(default_cache_dir(), AirflowVersion.parse(version))
        with tempfile.TemporaryDirectory(prefix="mwaa-verify-bench-") as home:
            env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
            env.update(AIRFLOW_HOME=home, AIRFLOW__CORE__LOAD_EXAMPLES="False")
            env["AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT"] = "5"  # the corpus's parse_timeout.py stops early
            out = Path(home) / "report.json"
            started = time.monotonic()
            run([str(python), str(PROBE), "--dags-folder", str(args.dags_folder), "--out", str(out)], env)
            wall = time.monotonic() - started
            files = json.loads(out.read_text())["files"]
            probe = statistics.median(item["parse_seconds"] for item in files if not item["import_error"])
            naive_out = Path(home) / "naive.json"
            run([str(python), "-c", ONLY_DAGBAG, str(args.dags_folder), str(naive_out)], env)
            naive = statistics.median(seconds for seconds, clean in json.loads(naive_out.read_text()).values() if clean)
        print(f"{version:>8}  {probe:12.3f}  {naive:18.3f}  {wall:12.1f}", flush=True)


def run(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=1800, stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
