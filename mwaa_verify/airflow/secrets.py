"""Which metadata columns hold secrets, and how they are decrypted.

Airflow encrypts variable values and connection passwords/extras with the environment's Fernet key when it
has one (flags is_encrypted / is_extra_encrypted). Two environments have different keys, so secrets are only
comparable decrypted; they never leave this module except as plaintext for an export the user asked for,
or as keyed digests that reveal nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# table -> {secret column: flag column that says whether it is encrypted}
SECRET_COLUMNS: dict[str, dict[str, str]] = {
    "variable": {"val": "is_encrypted"},
    "connection": {"password": "is_encrypted", "extra": "is_extra_encrypted"},
}


class SecretError(ValueError):
    pass


@dataclass(frozen=True)
class FernetKeys:
    """An environment's Fernet key(s) as its Airflow is configured; empty when secrets are stored in clear."""

    keys: tuple[str, ...]

    def __repr__(self) -> str:  # never print key material
        return f"FernetKeys({len(self.keys)} key(s))"

    @classmethod
    def parse(cls, configured: str) -> FernetKeys:
        return cls(tuple(key.strip() for key in configured.split(",") if key.strip()))

    def _fernet(self) -> MultiFernet:
        try:
            return MultiFernet([Fernet(key.encode()) for key in self.keys])
        except ValueError:
            raise SecretError("the configured fernet_key is not a valid Fernet key") from None

    def decrypt(self, token: str) -> str:
        if not self.keys:
            raise SecretError("the value is marked encrypted but the environment has no fernet_key")
        try:
            return self._fernet().decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretError("the value cannot be decrypted with the environment's fernet_key") from None

    def encrypt(self, plaintext: str) -> tuple[str, bool]:
        """The stored form and whether it is encrypted (Airflow stores clear text when it has no key)."""
        if not self.keys:
            return plaintext, False
        return self._fernet().encrypt(plaintext.encode()).decode(), True


def decrypted(table: str, row: Mapping[str, Any], keys: FernetKeys) -> dict[str, Any]:
    """The row with its secret columns in clear text (and their flags dropped: they describe storage)."""
    result = dict(row)
    for column, flag in SECRET_COLUMNS.get(table, {}).items():
        if column not in result:
            continue
        value = result[column]
        if value is not None and result.get(flag):
            result[column] = keys.decrypt(value)
        result.pop(flag, None)
    return result


def encrypted(table: str, row: Mapping[str, Any], keys: FernetKeys) -> dict[str, Any]:
    """The row with clear-text secret columns stored the way the target environment stores them."""
    result = dict(row)
    for column, flag in SECRET_COLUMNS.get(table, {}).items():
        if column not in result:
            continue
        value = result[column]
        if value is None:
            result[flag] = False
        else:
            result[column], result[flag] = keys.encrypt(value)
    return result


class SecretDigest(str):
    """A secret already replaced by a keyed digest (as a snapshot stores it): digesting it again keeps it."""


class Redactor:
    """Keyed digests of secret values: equal values give equal digests under one key, and a digest shows
    nothing of the value. The key is random per run and never stored, unless a snapshot brings its own (then
    live values are digested with the key the snapshot's digests were made with, so they compare)."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key if key is not None else os.urandom(32)

    def digest(self, value: Any) -> str:
        if isinstance(value, SecretDigest):
            return value
        if value is None:
            return "<no secret>"
        mac = hmac.new(self.key, str(value).encode(), hashlib.sha256).hexdigest()[:12]
        return SecretDigest(f"<redacted {mac}>")

    def rekey(self, key: bytes) -> None:
        """Digest with `key` from now on: a snapshot's, so that live values compare with the digests it holds."""
        self.key = key


# Airflow option values that may be secrets (MWAA returns them in clear text): one redactor for the process, so a
# snapshot's digests of them and a live environment's compare (opening a snapshot re-keys it with its key).
OPTION_DIGESTS = Redactor()
