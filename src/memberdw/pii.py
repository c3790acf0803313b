"""The PII key and the keyed hash personal data leaves staging as: HMAC-SHA256, lower-case hex.

The key is a secret of at least ``MIN_KEY_BYTES`` bytes, from the first of:

- ``MEMBERDW_PII_KEY``: the key itself;
- ``MEMBERDW_PII_KEY_FILE``: a file holding it (surrounding whitespace ignored);
- the Airflow Variable ``memberdw_pii_key``, only inside an Airflow process (a DAG task), so
  whatever secrets backend Airflow is configured with can serve it.

There is no default: a known key makes every hash reversible by enumerating the mobile
number space. During a key rotation the previous key comes the same way from
``MEMBERDW_PII_KEY_PREVIOUS`` / ``MEMBERDW_PII_KEY_PREVIOUS_FILE`` / ``memberdw_pii_key_previous``
(docs/pii.md). The key is read only here, in Python: dbt's SQL calls the functions
``register`` puts on the connection (``memberdw.dbt_plugin``), so it never appears in
compiled SQL, dbt's artifacts or any log.
"""

from __future__ import annotations

import atexit
import hmac
import os
import sys
import weakref
from pathlib import Path

MIN_KEY_BYTES = 32
HASH_FUNCTION = "memberdw_pii_hash"
PREVIOUS_HASH_FUNCTION = "memberdw_pii_hash_previous"


class PiiKeyError(RuntimeError):
    """No usable PII key; the message says what to set (never the key)."""


def pii_hash(value: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 of ``value`` (UTF-8) under ``key`` (default: the current key), hex."""
    return hmac.digest(current_key() if key is None else key, value.encode("utf-8"),
                       "sha256").hex()


def current_key() -> bytes:
    key = _key("MEMBERDW_PII_KEY", os.environ.get("MEMBERDW_PII_KEY"),
               "MEMBERDW_PII_KEY_FILE", os.environ.get("MEMBERDW_PII_KEY_FILE", ""),
               "memberdw_pii_key")
    if key is None:
        raise PiiKeyError(
            "no PII key: set MEMBERDW_PII_KEY to a secret of at least "
            f"{MIN_KEY_BYTES} bytes, or MEMBERDW_PII_KEY_FILE to a file holding one"
            + (", or the Airflow Variable memberdw_pii_key" if _in_airflow() else "")
            + "; there is no default (docs/pii.md)")
    return key


def previous_key() -> bytes | None:
    """The key being rotated away from, or None outside a rotation."""
    return _key("MEMBERDW_PII_KEY_PREVIOUS", os.environ.get("MEMBERDW_PII_KEY_PREVIOUS", ""),
                "MEMBERDW_PII_KEY_PREVIOUS_FILE",
                os.environ.get("MEMBERDW_PII_KEY_PREVIOUS_FILE", ""),
                "memberdw_pii_key_previous")


def register(conn) -> None:
    """Put ``memberdw_pii_hash(varchar)`` and ``memberdw_pii_hash_previous(varchar)`` on a
    DuckDB connection (NULL in, NULL out); the second is NULL for every value unless a
    previous key is set. Raises PiiKeyError without a current key."""
    key, previous = current_key(), previous_key()
    conn.create_function(HASH_FUNCTION, _hasher(key), ["VARCHAR"], "VARCHAR")
    # null_handling special: this one may return NULL for a value (no previous key)
    conn.create_function(PREVIOUS_HASH_FUNCTION, _hasher(previous), ["VARCHAR"], "VARCHAR",
                         null_handling="special")
    _registered.add(conn)


# Connections still holding the functions when Python exits (dbt-duckdb keeps its own open)
# have them removed first: duckdb 2.0 otherwise reports their types as leaked, 28 lines of
# "nanobind: leaked instance ... DuckDBPyType" on stderr at the end of every run.
_registered: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _unregister_all() -> None:
    for conn in list(_registered):
        for name in (HASH_FUNCTION, PREVIOUS_HASH_FUNCTION):
            try:
                conn.remove_function(name)
            except Exception:  # noqa: BLE001 - closed already, or never got this one
                pass


def _hasher(key: bytes | None):
    """A one-argument function, as DuckDB wants it: the hash, or NULL without a key."""
    def hash_value(value: str | None) -> str | None:
        return None if key is None or value is None else pii_hash(value, key)

    return hash_value


def _key(env_name: str, env_value: str | None, file_env_name: str, file_value: str,
         variable: str) -> bytes | None:
    if env_value and file_value:
        raise PiiKeyError(f"set {env_name} or {file_env_name}, not both")
    if env_value:
        key, source = env_value.encode("utf-8"), env_name
    elif file_value:
        try:
            key = Path(file_value).read_bytes().strip()
        except OSError as exc:
            raise PiiKeyError(f"{file_env_name}={file_value} cannot be read: "
                              f"{exc.strerror or exc}") from None
        source = f"the file {file_value} ({file_env_name})"
    else:
        value = _airflow_variable(variable)
        if not value:
            return None
        key, source = value.encode("utf-8"), f"the Airflow Variable {variable}"
    if len(key) < MIN_KEY_BYTES:
        raise PiiKeyError(
            f"the PII key in {source} is {len(key)} bytes; it needs at least {MIN_KEY_BYTES}"
            " (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    _mask_in_airflow_logs(key)
    return key


def _in_airflow() -> bool:
    return "airflow.sdk" in sys.modules


def _airflow_variable(name: str) -> str | None:
    """The Variable's value inside an Airflow process, else None (never imports Airflow)."""
    if not _in_airflow():
        return None
    try:
        from airflow.sdk import Variable

        return Variable.get(name, default=None)
    except Exception:  # noqa: BLE001 - no Variable, no backend, no task context: not set
        return None


def _mask_in_airflow_logs(key: bytes) -> None:
    if not _in_airflow():
        return
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(key.decode("utf-8", "replace"))
    except Exception:  # noqa: BLE001 - masking is a second line of defence, not the first
        pass
