"""memberdw's dbt-duckdb plugin (``plugins:`` in dbt_project/profiles.yml): puts the keyed-hash
functions of ``memberdw.pii`` on every connection dbt opens, so the PII key stays in Python
and out of dbt's SQL, artifacts and logs."""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin

from memberdw import pii


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:
        pii.register(conn)
