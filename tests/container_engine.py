"""A container engine for the `container` kind's tests and for CI, on a machine that may have none.

No Docker engine and no registry is assumed: podman, runc and debootstrap come from Debian's packages where
missing, `podman system service` serves the Docker API on a socket of this process, and the images are built
locally once per machine (a Debian base from debootstrap, PostgreSQL 15, Airflow X.Y.Z from PyPI), each tagged
with a digest of its build context so a changed Dockerfile builds a new image and an unchanged one is reused.

    python tests/container_engine.py build 2.10.5 3.3.1   # CI: install, start, build, stop (images stay)

Every step prints how long it took. The service this module starts is stopped by `Engine.stop()` (the tests'
session fixture does that); the images stay cached.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "container_images"
STATE = Path(os.environ.get("MWAA_VERIFY_CACHE", Path.home() / ".cache" / "mwaa-verify")) / "container-engine"
BASE_IMAGE = "localhost/mwaa-verify/debian:bookworm"
IMAGE_PYTHON = "3.11"  # bookworm's python3
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

CONTAINERS_CONF = """\
[containers]
cgroups = "no-conmon"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
"""


class EngineUnavailable(RuntimeError):
    """The engine cannot be made to run here; the message says why."""


@contextmanager
def step(what: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        print(f"[container-engine] {what}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)


def _run(args: Sequence[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(list(args), capture_output=True, text=True, env=engine_env(), **kwargs)  # type: ignore[call-overload]
    if completed.returncode != 0:
        tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-15:])
        raise EngineUnavailable(f"{what} failed (exit {completed.returncode}): {tail}")
    return completed


def engine_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(STATE / "containers.conf")}


def memory_cgroup() -> str | None:
    """This process's memory cgroup (cgroup v1 line `N:memory:/path`), where its containers should run too."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(",") and path not in ("", "/"):
                return path
    except OSError:
        pass
    return None


def install_packages() -> None:
    missing = [name for name in ("podman", "runc", "debootstrap") if shutil.which(name) is None]
    if not missing:
        return
    if os.geteuid() != 0 and shutil.which("sudo") is None:
        raise EngineUnavailable(f"{', '.join(missing)} missing and not root: apt-get install -y {' '.join(missing)}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    with step(f"apt-get install {' '.join(missing)}"):
        _run([*sudo, "apt-get", "update", "-qq"], "apt-get update")
        _run(
            [*sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", *missing],
            f"apt-get install {' '.join(missing)}",
        )


@dataclass
class Engine:
    """A running `podman system service` this process started, serving the Docker API on `socket`."""

    socket: Path
    process: subprocess.Popen[bytes]

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.socket.unlink(missing_ok=True)


def start_engine() -> Engine:
    """Install what is missing, write the settings and start a Docker API service for this process."""
    install_packages()
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "containers.conf").write_text(CONTAINERS_CONF)
    socket = STATE / f"podman-{os.getpid()}.sock"
    socket.unlink(missing_ok=True)
    with step("podman system service"):
        process = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{socket}"],
            env=engine_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        engine = Engine(socket, process)
        deadline = time.monotonic() + 60
        while not _answers(socket):
            if process.poll() is not None:
                error = (process.stderr.read() if process.stderr else b"").decode(errors="replace").strip()
                raise EngineUnavailable(f"podman system service exited ({process.returncode}): {error[-800:]}")
            if time.monotonic() > deadline:
                engine.stop()
                raise EngineUnavailable(f"podman system service did not answer on {socket} within 60 s")
            time.sleep(0.2)
    return engine


def _answers(socket: Path) -> bool:
    import socket as sockets

    if not socket.exists():
        return False
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as client:
        try:
            client.settimeout(2)
            client.connect(str(socket))
            client.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b"OK" in client.recv(1024)
        except OSError:
            return False


# -- images ------------------------------------------------------------------------------------------------


def _image_exists(tag: str) -> bool:
    return subprocess.run(["podman", "image", "exists", tag], env=engine_env()).returncode == 0


def _digest(folder: Path, extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def build_base() -> str:
    if _image_exists(BASE_IMAGE):
        return BASE_IMAGE
    with tempfile.TemporaryDirectory(prefix="mwaa-verify-rootfs-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        with step("debootstrap bookworm"):
            _run(
                ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), "http://deb.debian.org/debian"],
                "debootstrap",
            )
        with step(f"podman import {BASE_IMAGE}"):
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            _run(["podman", "import", "-", BASE_IMAGE], "podman import", stdin=tar.stdout)
            tar.wait()
    return BASE_IMAGE


def _build(tag: str, context: Path, build_args: dict[str, str]) -> str:
    if _image_exists(tag):
        return tag
    args = ["podman", "build", "-q", "-t", tag, "-v", f"{CA_BUNDLE}:/host-ca.crt:ro"]
    for key, value in build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    with step(f"podman build {tag}"):
        _run([*args, str(context)], f"podman build {tag}")
    return tag


def postgres_image() -> str:
    build_base()
    context = IMAGES / "postgres"
    return _build(f"localhost/mwaa-verify/postgres:15-{_digest(context)}", context, {})


def airflow_image(version: str) -> str:
    """An image with Airflow `version`, its dependencies pinned to what this tool's own virtualenv for that
    version resolved (Airflow's constraints URL is not reachable from every machine)."""
    build_base()
    with tempfile.TemporaryDirectory(prefix="mwaa-verify-airflow-image-") as scratch:
        context = Path(scratch)
        shutil.copy(IMAGES / "airflow" / "Dockerfile", context / "Dockerfile")
        (context / "constraints.txt").write_text(_constraints(version))
        tag = f"localhost/mwaa-verify/airflow:{version}-{_digest(context, version)}"
        return _build(tag, context, {"AIRFLOW_VERSION": version})


def _constraints(version: str) -> str:
    from mwaa_verify.airflow.versions import AirflowVersion
    from mwaa_verify.environments.virtualenv import ensure_virtualenv

    cache = STATE.parent
    with step(f"virtualenv for Airflow {version} (constraints)"):
        python = ensure_virtualenv(cache, AirflowVersion.parse(version), IMAGE_PYTHON)
        uv = shutil.which("uv")
        args = [uv, "pip", "freeze", "--python", str(python)] if uv else [str(python), "-m", "pip", "freeze"]
        frozen = _run(args, f"freezing the Airflow {version} virtualenv").stdout
    return "".join(line + "\n" for line in frozen.splitlines() if "==" in line and " @ " not in line)


def remove_images() -> None:
    """Drop every image this module built (to measure a cold build)."""
    listing = _run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], "podman images").stdout
    tags = [tag for tag in listing.split() if tag.startswith("localhost/mwaa-verify/")]
    if tags:
        _run(["podman", "rmi", "-f", *tags], "podman rmi")


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in ("build", "clean"):
        print("usage: container_engine.py build AIRFLOW_VERSION... | clean", file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE.parent))
    try:
        if argv[0] == "clean":
            remove_images()
            return 0
        started = time.monotonic()
        engine = start_engine()
        try:
            postgres_image()
            for version in argv[1:]:
                airflow_image(version)
        finally:
            engine.stop()
        print(f"[container-engine] ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    except EngineUnavailable as exc:
        print(f"container engine unavailable: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
