"""The DAG probe's long-lived parse workers judge every file as a fresh process would: a file never imports
thanks to what an earlier file left in the worker, and a file that hangs or kills its worker costs only itself.

One worker (--processes 1) parses the whole folder in order, so each file meets what the files before it left.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mwaa_verify.airflow.probes import dag_probe
from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.environments.base import DagReport
from mwaa_verify.environments.virtualenv import ensure_virtualenv

pytestmark = pytest.mark.slow

IMPORT_TIMEOUT = 6  # ample for a trivial file on a busy machine; the hung file costs this once per version
DAG = """
from datetime import datetime

from airflow import DAG

with DAG("{name}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    pass
"""
FILES = {
    # what a file leaves in the process: the next file must not see it
    "a_extends_sys_path.py": "import sys\nsys.path.append({lib!r})\n",
    "b_imports_from_that_path.py": "import outside_helper\n",
    "c_fills_a_helper_registry.py": "from shared import registry\nregistry.NAMES.append('c')\n",
    "d_needs_that_registry_entry.py": "from shared import registry\nassert registry.NAMES, 'empty registry'\n",
    "e_marks_a_module_it_imports.py": "import wave\nwave.MARKED = True\n",
    "f_needs_that_module_unmarked.py": "import wave\nassert not hasattr(wave, 'MARKED')\n",
    # what ends its worker: the next files still parse
    "g_ignores_the_timeout.py": "import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGALRM}})\n"
    "time.sleep(3600)\n",
    "h_exits.py": "import os\nos._exit(3)\n",
    "i_clean.py": "",
}
# the probe's grace beyond dagbag_import_timeout, shortened so the hung file costs seconds, not half a minute
PROBE = """
import sys
sys.path.insert(0, sys.argv.pop(1))
import dag_probe
dag_probe.KILL_GRACE_SECONDS = 1
sys.exit(dag_probe.main())
"""


@pytest.fixture(scope="module", params=["2.10.5", "3.3.1"])
def report(request: pytest.FixtureRequest, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> DagReport:
    scratch = tmp_path_factory.mktemp(f"workers-{request.param}")
    dags, lib, home = scratch / "dags", scratch / "lib", scratch / "home"
    for folder in (dags / "shared", lib, home):
        folder.mkdir(parents=True)
    (lib / "outside_helper.py").write_text("")
    (dags / "shared" / "__init__.py").write_text("")
    (dags / "shared" / "registry.py").write_text("NAMES = []\n")
    for name, code in FILES.items():
        (dags / name).write_text(code.format(lib=str(lib)) + DAG.format(name=name.removesuffix(".py")))
    python = ensure_virtualenv(cache_dir, AirflowVersion.parse(request.param))
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(dags), AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT=str(IMPORT_TIMEOUT),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",  # parsing reads no table
    )  # fmt: skip
    out = scratch / "report.json"
    probes = str(Path(dag_probe.__file__).parent)
    command = [str(python), "-c", PROBE, probes, "--dags-folder", str(dags), "--out", str(out), "--processes", "1"]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=scratch)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return DagReport.from_json(json.loads(out.read_text()))


def test_each_file_is_judged_as_in_a_fresh_process(report: DagReport) -> None:
    errors = {item.path: item.error_summary for item in report.files if item.import_error}

    assert report.tool_errors == {}
    assert errors == {
        "b_imports_from_that_path.py": "ModuleNotFoundError: No module named 'outside_helper'",
        "d_needs_that_registry_entry.py": "AssertionError: empty registry",
        "g_ignores_the_timeout.py": f"parse took longer than dagbag_import_timeout = {IMPORT_TIMEOUT} s",
        "h_exits.py": "the parsing process exited with code 3 without a result",
    }
    assert sorted(report.dags) == [
        "a_extends_sys_path", "c_fills_a_helper_registry", "e_marks_a_module_it_imports",
        "f_needs_that_module_unmarked", "i_clean",
    ]  # fmt: skip
