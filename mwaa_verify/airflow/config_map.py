"""Airflow configuration options across 2.x -> 3.x: where moved options went, which were removed, and which
are local to each deployment by nature (paths, connection strings, keys) and never compared.

From `airflow config lint` / `airflow config update` on a 2.10 configuration (research §3.4) and the 3.0
release notes.
"""

from __future__ import annotations

from collections.abc import Mapping

MOVED_IN_3: dict[str, str] = {
    "webserver.base_url": "api.base_url",
    "webserver.web_server_host": "api.host",
    "webserver.web_server_port": "api.port",
    "webserver.workers": "api.workers",
    "webserver.web_server_worker_timeout": "api.worker_timeout",
    "webserver.web_server_ssl_cert": "api.ssl_cert",
    "webserver.web_server_ssl_key": "api.ssl_key",
    "webserver.access_logfile": "api.access_logfile",
    "webserver.expose_config": "api.expose_config",
    "webserver.secret_key": "api.secret_key",
    "webserver.default_ui_timezone": "api.default_ui_timezone",
    "api.auth_backends": "fab.auth_backends",
    "core.dag_file_processor_timeout": "dag_processor.dag_file_processor_timeout",
    "scheduler.dag_dir_list_interval": "dag_processor.refresh_interval",
    "scheduler.min_file_process_interval": "dag_processor.min_file_process_interval",
    "scheduler.parsing_processes": "dag_processor.parsing_processes",
    "scheduler.file_parsing_sort_mode": "dag_processor.file_parsing_sort_mode",
    "scheduler.stale_dag_threshold": "dag_processor.stale_dag_threshold",
    "scheduler.print_stats_interval": "dag_processor.print_stats_interval",
    "scheduler.max_callbacks_per_loop": "dag_processor.max_callbacks_per_loop",
    "core.max_num_rendered_ti_fields_per_task": "core.max_num_rendered_ti_fields_per_task",
}
REMOVED_IN_3 = {
    "core.check_slas": "SLAs were removed",
    "core.enable_xcom_pickling": "XCom pickling was removed",
    "scheduler.processor_poll_interval": "removed",
    "scheduler.deactivate_stale_dags_interval": "removed",
    "core.dag_ignore_file_syntax": "removed",
    "scheduler.schedule_after_task_execution": "removed",
    "scheduler.use_job_schedule": "removed",
}
# Different on every deployment by design: never a migration defect.
LOCAL_OPTIONS = {
    "core.dags_folder", "core.plugins_folder", "core.fernet_key", "core.hostname_callable", "core.internal_api_url",
    "core.execution_api_server_url", "database.sql_alchemy_conn", "database.sql_alchemy_conn_async",
    "logging.base_log_folder", "logging.dag_processor_manager_log_location",
    "logging.dag_processor_child_process_log_directory",
    "scheduler.child_process_log_directory", "api.secret_key", "api_auth.jwt_secret", "webserver.secret_key",
    "webserver.config_file", "fab.config_file", "core.unit_test_mode", "celery.result_backend", "celery.broker_url",
}  # fmt: skip


# Options named like these hold secrets (the env probe hides the same words inside each environment).
SENSITIVE_WORDS = ("secret", "password", "passwd", "token", "fernet", "sql_alchemy_conn", "private", "key", "dsn",
                   "credential", "broker_url", "result_backend", "backend_kwargs")  # fmt: skip


def is_sensitive(option: str) -> bool:
    """Whether an option ("section.option") may hold a secret, so that its value is never shown."""
    return any(word in option.lower() for word in SENSITIVE_WORDS)


def canonical_options(options: Mapping[str, str]) -> dict[str, str]:
    """Options named as Airflow 3 names them, local ones left out."""
    return {
        MOVED_IN_3.get(name, name): value
        for name, value in options.items()
        if name not in LOCAL_OPTIONS and MOVED_IN_3.get(name, name) not in LOCAL_OPTIONS
    }


def config_differences(
    source: Mapping[str, str],
    target: Mapping[str, str],
    section: str,
    intended: set[str],
    configured: set[str] | None = None,
) -> tuple[list[str], list[str]]:
    """(differences that fail, notes that do not) for one section, in Airflow 3 naming. With `configured`
    (options either deployment sets itself, in either version's naming), defaults that merely changed between
    versions are left out: what matters is that the target keeps what the source was configured to do."""
    failing, notes = [], []
    left, right = canonical_options(source), canonical_options(target)
    if configured is not None:
        configured = {MOVED_IN_3.get(name, name) for name in configured}
    for name in sorted({*left, *right}):
        if name.split(".", 1)[0] != section or name in intended:
            continue
        if configured is not None and name not in configured:
            continue
        old = next((o for o, n in MOVED_IN_3.items() if n == name and o in source), None)
        where = f"{name} (was {old})" if old and old != name else name
        if name in left and name in right:
            if left[name] != right[name]:
                failing.append(f"{where}: {left[name]!r} on the source, {right[name]!r} on the target")
        elif name in left:
            if name in REMOVED_IN_3:
                notes.append(f"{name}: {REMOVED_IN_3[name]} in Airflow 3 (was {left[name]!r})")
            else:
                notes.append(f"{name}: only on the source ({left[name]!r})")
        else:
            notes.append(f"{name}: only on the target ({right[name]!r})")
    return failing, notes
