"""Values Airflow 2.x stored pickled (dag_run.conf, xcom with enable_xcom_pickling, executor_config).

They are read with an unpickler that builds only plain data (containers, numbers, strings, dates): a
pickle that names any other class is reported as not migratable instead of being executed.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

_SAFE_GLOBALS = {
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"),
    ("builtins", "frozenset"), ("builtins", "bytearray"), ("builtins", "complex"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"), ("datetime", "timedelta"),
    ("datetime", "timezone"), ("decimal", "Decimal"), ("collections", "OrderedDict"),
    ("pendulum.tz.timezone", "Timezone"), ("pendulum.tz.timezone", "FixedTimezone"),
    ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
}  # fmt: skip
PICKLE_PROTOCOL_MARK = 0x80


class NotMigratable(ValueError):
    """A stored value that cannot be carried to another Airflow version as data."""


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise NotMigratable(f"pickled {module}.{name} object")


def is_pickle(data: bytes | None) -> bool:
    return bool(data) and data[0] == PICKLE_PROTOCOL_MARK


def load_plain(data: bytes) -> Any:
    """Unpickle data that holds only plain values; NotMigratable otherwise."""
    try:
        return _PlainDataUnpickler(io.BytesIO(data)).load()
    except NotMigratable:
        raise
    except Exception as exc:  # a corrupt pickle raises anything from EOFError to UnpicklingError
        raise NotMigratable(f"unreadable pickle ({type(exc).__name__})") from None
