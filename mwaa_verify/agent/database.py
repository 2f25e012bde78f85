"""Where the agent finds its environment's metadata database, from inside an MWAA task process.

On Airflow 2.x a task may use Airflow's own `sql_alchemy_conn`. On 3.x the task SDK blocks it
(`airflow-db-not-allowed:///`), but MWAA workers keep the credentials in their environment: `DB_SECRETS` (JSON with
username and password) with `POSTGRES_HOST`/`POSTGRES_PORT`/`POSTGRES_DB`; AWS's open-source MWAA images name
them `MWAA__DB__CREDENTIALS` (or `MWAA__DB__POSTGRES_USER`/`_PASSWORD`) with `MWAA__DB__POSTGRES_HOST`/`_PORT`/
`_DB`/`_SSLMODE`; the Celery result backend (`db+postgresql://...`) points at the same database. Candidates are
tried in that order. No URL, password or username ever reaches a message: sources are named by variable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from mwaa_verify.errors import MetadataError

BLOCKED_SCHEME = "airflow-db-not-allowed"
CONNECT_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Candidate:
    """A database URL and where it came from (the variables' names: safe to show)."""

    source: str
    url: str = ""

    def __repr__(self) -> str:  # never print the URL: it holds a password
        return f"Candidate({self.source!r})"


class RdsIamAuthentication(MetadataError):
    """The database refused static credentials because the user logs in with RDS IAM tokens."""


def candidates(environ: Mapping[str, str], configured: str | None, result_backend: str | None) -> list[Candidate]:
    """Every database URL this process's environment offers, best first; `configured` is Airflow's
    sql_alchemy_conn as the task sees it, `result_backend` Celery's."""
    found: list[Candidate] = []
    if configured and not configured.startswith(BLOCKED_SCHEME):
        found.append(Candidate("Airflow's [database] sql_alchemy_conn", configured))
    secrets = _credentials(environ.get("DB_SECRETS"))
    if secrets and environ.get("POSTGRES_HOST"):
        found.append(Candidate("DB_SECRETS with POSTGRES_HOST/POSTGRES_PORT/POSTGRES_DB", _url(environ, "", secrets)))
    mwaa_credentials = _credentials(environ.get("MWAA__DB__CREDENTIALS"))
    if mwaa_credentials is None and environ.get("MWAA__DB__POSTGRES_USER"):
        mwaa_credentials = (environ["MWAA__DB__POSTGRES_USER"], environ.get("MWAA__DB__POSTGRES_PASSWORD", ""))
    if mwaa_credentials and environ.get("MWAA__DB__POSTGRES_HOST"):
        source = "MWAA__DB__CREDENTIALS (or MWAA__DB__POSTGRES_USER/_PASSWORD) with MWAA__DB__POSTGRES_HOST/_PORT/_DB"
        found.append(Candidate(source, _url(environ, "MWAA__DB__", mwaa_credentials)))
    if result_backend and result_backend.startswith("db+postgresql"):
        found.append(Candidate("Celery's result_backend", result_backend.removeprefix("db+")))
    return found


def _credentials(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    try:
        data = json.loads(text)
        return str(data["username"]), str(data["password"])
    except (ValueError, TypeError, KeyError):
        return None  # not the shape MWAA writes: the next source may still do


def _url(environ: Mapping[str, str], prefix: str, credentials: tuple[str, str]) -> str:
    query = {"sslmode": environ[f"{prefix}POSTGRES_SSLMODE"]} if environ.get(f"{prefix}POSTGRES_SSLMODE") else {}
    return URL.create(
        "postgresql+psycopg2",
        username=credentials[0],
        password=credentials[1],
        host=environ[f"{prefix}POSTGRES_HOST"],
        port=int(environ.get(f"{prefix}POSTGRES_PORT") or 5432),
        database=environ.get(f"{prefix}POSTGRES_DB") or "AirflowMetadata",
        query=query,
    ).render_as_string(hide_password=False)


def reachable_url(found: list[Candidate]) -> Candidate:
    """The first candidate the database accepts. Its refusals are named by source, never by value; a login
    refused by PAM means RDS IAM authentication, which static credentials cannot pass."""
    if not found:
        raise MetadataError(
            "the agent found no metadata database in its task's environment (no usable sql_alchemy_conn, "
            "DB_SECRETS with POSTGRES_HOST, MWAA__DB__* variables or db+postgresql result backend); this MWAA "
            "version keeps its database credentials elsewhere: report it with the Airflow version"
        )
    problems = []
    for candidate in found:
        problem = connection_problem(candidate)
        if problem is None:
            return candidate
        if "PAM authentication failed" in problem:
            raise RdsIamAuthentication(
                f"the metadata database refused the static credentials of {candidate.source}: the database user "
                f"logs in with RDS IAM authentication (PAM), which a password cannot pass; mwaa-verify's agent "
                f"cannot read this environment's metadata: export it with AWS's mwaa-dr backup DAG and verify "
                f"against that backup (kind 'snapshot', format 'mwaa-dr')"
            )
        problems.append(f"{candidate.source}: {problem}")
    raise MetadataError(f"the agent could not connect to the metadata database: {'; '.join(problems)}")


def connection_problem(candidate: Candidate) -> str | None:
    """Why the database refuses `candidate` (one line, without its credentials), or None."""
    try:
        url = make_url(candidate.url)
    except (ArgumentError, ValueError):
        return "not a database URL"
    if url.get_backend_name() != "postgresql":
        return f"a {url.get_backend_name()} database, not PostgreSQL"
    engine = sa.create_engine(
        url.set(drivername="postgresql+psycopg2"),
        poolclass=sa.pool.NullPool,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return None
    except SQLAlchemyError as exc:
        return _scrubbed(_first_line(exc), url)
    finally:
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _scrubbed(line: str, url: URL) -> str:
    """The driver's message without the credentials, should it ever quote them."""
    for secret in (url.password, url.username):
        if secret and len(str(secret)) > 2:
            line = line.replace(str(secret), "***")
    return line
