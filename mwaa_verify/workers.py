"""Running the suites past one process: pytest-xdist workers share one session's environments and results.

Under `pytest suites ... -n N` (or `--tx` specs), xdist starts a controller that collects nothing and runs
nothing, and N worker sessions that each collect every test and run a share of them. What must happen once
per verification happens in the controller:

- Environments the tool provisions (`ephemeral`) are started by the controller before the workers, and
  stopped by it when the session ends (also on Ctrl-C or SIGTERM, as without xdist). Each worker attaches to
  them through what `attachment()` describes: their interpreter, database URL and folders, handed over in
  xdist's in-memory `workerinput`, never written to a file. Kinds that are only read where they are (`local`,
  `mwaa`, `snapshot`) are opened by each worker: opening them starts nothing.
- The run id is chosen once and given to every worker, so all results carry the same one.
- Expensive answers every worker's collection needs (the DAG reports) are computed by the first worker that
  needs them, under a file lock in a directory the controller owns, and read by the others.
- The run record (what was collected, the environments as found) is written by the controller alone, so the
  summary knows which tests ran on no worker.

A `container` environment cannot be shared yet: under xdist it is refused in one line (run it with -n 0).
Remote workers (`--tx ssh=...`) reach environments through their own network: the controller's ephemeral
environments listen on 127.0.0.1 only, so they are refused with remote workers.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mwaa_verify.config import ContainerConfig, EnvironmentConfig, EphemeralConfig
from mwaa_verify.environments.base import DagReport, Environment
from mwaa_verify.errors import ConfigError

WORKERINPUT_KEY = "mwaa_verify"
# environments this controller starts for its workers
PROVISIONED = (EphemeralConfig,)
_SHARED_DIR_KEY = pytest.StashKey[Path]()
_ATTACHMENTS_KEY = pytest.StashKey[dict[str, dict[str, Any]]]()
_EXPECTED_KEY = pytest.StashKey[set[str]]()


def is_controller(config: pytest.Config) -> bool:
    """The xdist controller: it hands tests to workers and runs none itself."""
    return not is_worker(config) and _distributing(config)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _distributing(config: pytest.Config) -> bool:
    dist = getattr(config.option, "dist", "no")
    return dist != "no" and bool(getattr(config.option, "tx", None))


def worker_count(config: pytest.Config) -> int:
    """How many workers share the session (1 without xdist): the same number in every worker's collection."""
    if is_worker(config):
        return int(config.workerinput["workercount"])  # type: ignore[attr-defined]
    return 1


def remote_specs(config: pytest.Config) -> list[str]:
    """--tx specs whose workers do not run on this machine (ssh=, socket=, anything but popen)."""
    specs = getattr(config.option, "tx", None) or []
    return [spec for spec in specs if not str(spec).split("//")[0].startswith("popen")]


def check_shareable(name: str, environment: EnvironmentConfig, config: pytest.Config) -> None:
    """Refuse, before anything starts, an environment the workers of this session could not share."""
    if isinstance(environment, ContainerConfig):
        raise ConfigError(
            f"environment {name!r} (kind container) cannot be shared by pytest-xdist workers yet; run the suites "
            f"against it without -n (or with -n 0)"
        )
    remote = remote_specs(config)
    if isinstance(environment, PROVISIONED) and remote:
        raise ConfigError(
            f"environment {name!r} (kind {environment.kind}) is started on this machine and listens on 127.0.0.1 "
            f"only, so remote workers ({remote[0]}) cannot reach it; use environments every worker reaches "
            f"(kind local with a network database and the same paths, mwaa, or a snapshot in S3), or popen workers"
        )


def controller_setup(config: pytest.Config, opened: Callable[[str], Environment]) -> None:
    """In the controller: a directory the workers share, and the provisioned environments started once."""
    from mwaa_verify import ownership

    shared = ownership.make_owned_dir("workers")
    shared.chmod(0o700)
    config.add_cleanup(lambda: ownership.remove_owned_dir(shared))
    config.stash[_SHARED_DIR_KEY] = shared
    config.stash[_ATTACHMENTS_KEY] = {}
    from mwaa_verify.plugin import loaded_config

    for option in ("source", "target"):
        name = config.getoption(option)
        if name and isinstance(loaded_config(config).environment(name), PROVISIONED):
            config.stash[_ATTACHMENTS_KEY][option] = attachment(opened(option))


def workerinput(config: pytest.Config, run_id: str, window_start: datetime | None = None) -> dict[str, Any]:
    """What the controller hands each worker (in memory, through xdist's channel): the run id and the start of
    the --since window (one instant for every check on every worker, also a worker restarted after a crash);
    no more when the session names no environment (the plugin is loaded into every pytest session)."""
    since = window_start.isoformat() if window_start else None
    if _SHARED_DIR_KEY not in config.stash:
        return {"run_id": run_id, "window_start": since}
    return {
        "run_id": run_id,
        "window_start": since,
        "host": socket.gethostname(),
        "shared_dir": str(config.stash[_SHARED_DIR_KEY]),
        "attachments": config.stash[_ATTACHMENTS_KEY],
    }


def _from_controller(config: pytest.Config) -> dict[str, Any]:
    return dict(config.workerinput.get(WORKERINPUT_KEY) or {}) if is_worker(config) else {}  # type: ignore[attr-defined]


def controller_run_id(config: pytest.Config) -> str | None:
    return _from_controller(config).get("run_id")


def controller_window_start(config: pytest.Config) -> tuple[bool, datetime | None]:
    """(whether the controller fixed it, the start of the --since window it fixed)."""
    handed = _from_controller(config)
    if "window_start" not in handed:
        return False, None
    return True, datetime.fromisoformat(handed["window_start"]) if handed["window_start"] else None


def attached_environment(config: pytest.Config, option: str) -> Environment | None:
    """In a worker: the environment the controller started for --<option>, reached as the controller does."""
    described = _from_controller(config).get("attachments", {}).get(option)
    return None if described is None else attach(described)


def attached_options(config: pytest.Config) -> set[str]:
    """In a worker: the environment options whose environment the controller started."""
    return set(_from_controller(config).get("attachments", {}))


def attachment(environment: Environment) -> dict[str, Any]:
    """How another process on this machine reaches a running ephemeral environment (secrets included: it
    travels in memory only)."""
    from mwaa_verify.environments.local import HostAirflow

    assert isinstance(environment, HostAirflow)
    paths = {"python": environment.python, "dags_folder": environment.dags_folder,
             "base_log_folder": environment.base_log_folder, "airflow_home": environment.airflow_home,
             "policy_file": environment.policy_file}  # fmt: skip
    return {
        "name": environment.name,
        "kind": environment.kind,
        "sql_alchemy_conn": environment.sql_alchemy_conn,
        # what its own processes run with (an ephemeral environment's TMPDIR, which its owner removes)
        "env_overrides": dict(environment.env_overrides),
        **{key: None if value is None else str(value) for key, value in paths.items()},
    }


def attach(described: dict[str, Any]) -> Environment:
    """The environment `attachment()` described: closing it stops nothing (its owner, the controller, does)."""
    from mwaa_verify.environments.local import HostAirflow

    def path(key: str) -> Path | None:
        return None if described[key] is None else Path(described[key])

    environment = HostAirflow(
        name=described["name"],
        kind=described["kind"],
        python=Path(described["python"]),
        sql_alchemy_conn=described["sql_alchemy_conn"],
        dags_folder=Path(described["dags_folder"]),
        base_log_folder=path("base_log_folder"),
        airflow_home=path("airflow_home"),
        policy_file=path("policy_file"),
    )
    environment.env_overrides = dict(described.get("env_overrides") or {})
    return environment


def shared_dir(config: pytest.Config) -> Path | None:
    """The directory the controller made for this session's workers, if this worker can see it."""
    if is_controller(config):
        return config.stash.get(_SHARED_DIR_KEY, None)
    given = _from_controller(config)
    if "shared_dir" not in given or given.get("host") != socket.gethostname():
        return None
    folder = Path(given["shared_dir"])
    return folder if folder.is_dir() else None


def shared_dag_report(config: pytest.Config, option: str, compute: Callable[[], DagReport]) -> DagReport:
    """--<option>'s DAG report, parsed once per session: by the first worker that needs it, under a lock;
    the others read its copy. Without a shared directory (no xdist, a remote worker) it is computed here."""
    folder = shared_dir(config) if is_worker(config) else None
    if folder is None:
        return compute()
    copy = folder / f"dag-report-{option}.json"
    with (folder / f"dag-report-{option}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this worker is killed
        if copy.is_file():
            return DagReport.from_json(json.loads(copy.read_text(encoding="utf-8")))
        report = compute()
        staged = copy.with_suffix(f".{os.getpid()}.tmp")
        staged.write_text(json.dumps(asdict(report)), encoding="utf-8")
        os.replace(staged, copy)
        return report


def publish_description(config: pytest.Config, described: dict[str, dict[str, str]]) -> None:
    """In a worker: how it found the environments, for the controller's run record."""
    folder = shared_dir(config)
    if folder is not None and described:
        worker = config.workerinput["workerid"]  # type: ignore[attr-defined]
        (folder / f"described-{worker}.json").write_text(json.dumps(described), encoding="utf-8")


def merged_descriptions(config: pytest.Config, own: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """In the controller: its own description of each environment, completed by what the workers found."""
    merged = {role: dict(values) for role, values in own.items()}
    folder = shared_dir(config)
    for path in sorted(folder.glob("described-*.json")) if folder is not None else ():
        for role, values in json.loads(path.read_text(encoding="utf-8")).items():
            for key, value in values.items():
                merged.setdefault(role, {}).setdefault(key, value)
    return merged


def expect(config: pytest.Config, nodeids: list[str]) -> None:
    """In the controller: the tests a worker collected (every worker collects the same ones)."""
    config.stash.setdefault(_EXPECTED_KEY, set()).update(nodeids)


def expected(config: pytest.Config) -> set[str]:
    return config.stash.get(_EXPECTED_KEY, set())
