"""What makes the serving file ``<warehouse>/marts.duckdb`` a file for BI tools rather than
a copy of the marts: the storage version it is written in, and the dbt descriptions it
carries as table and column comments. ``memberdw.pipeline.publish`` builds the file.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from memberdw.pipeline import DBT_TARGET

log = logging.getLogger(__name__)

# DuckDB 2.0 writes its own storage format (version 69) by default, which no DuckDB 1.x
# opens, and BI tools reach DuckDB through JDBC/ODBC drivers that lag the Python package.
# v1.0.0 (storage version 64) is read by every release from 1.0.0 on; a newer 1.x format
# would shut out the readers older than that release (docs/serving.md).
STORAGE_VERSION = "v1.0.0"

MANIFEST = DBT_TARGET / "manifest.json"  # relative to the warehouse


@dataclass(frozen=True)
class Description:
    """A model's dbt description and its columns' (by column name); empty texts left out."""
    table: str = ""
    columns: dict[str, str] = field(default_factory=dict)


def descriptions(warehouse_dir: str | Path, schema: str = "marts") -> dict[str, Description]:
    """The dbt descriptions of the models built into ``schema``, by table name.

    Read from the manifest the last dbt build wrote, where dbt has already resolved doc
    blocks and Jinja; without a readable manifest, {} and a warning (a publication without
    comments is still a correct one)."""
    path = Path(warehouse_dir) / MANIFEST
    try:
        nodes = json.loads(path.read_text())["nodes"].values()
    except (OSError, ValueError, KeyError) as exc:
        log.warning("no table or column comments in the serving file: cannot read the dbt"
                    " manifest %s (%s)", path, exc)
        return {}
    described = {}
    for node in nodes:
        if node.get("resource_type") != "model" or node.get("schema") != schema:
            continue
        described[node.get("alias") or node["name"]] = Description(
            table=(node.get("description") or "").strip(),
            columns={name: text for name, column in (node.get("columns") or {}).items()
                     if (text := (column.get("description") or "").strip())})
    return described


def comment_on(con, catalog: str, tables: list[str], described: dict[str, Description]) -> int:
    """Write ``described`` (see ``descriptions``) as COMMENT ON TABLE / COLUMN onto
    ``catalog.main.<table>`` for each of ``tables``; returns the number of comments.

    A column is matched by name, case-insensitively as DuckDB does; a described column the
    table lacks is skipped. COMMENT ON takes no parameters, hence the quoting here."""
    columns: dict[str, dict[str, str]] = {}
    for table, name in con.execute(
            "select table_name, column_name from duckdb_columns() where database_name = ?"
            " and schema_name = 'main'", [catalog]).fetchall():
        columns.setdefault(table, {})[name.lower()] = name
    count = 0
    for table in tables:
        description = described.get(table)
        if description is None:
            continue
        target = f"{_identifier(catalog)}.main.{_identifier(table)}"
        if description.table:
            con.execute(f"comment on table {target} is {_literal(description.table)}")
            count += 1
        for name, text in description.columns.items():
            if (column := columns.get(table, {}).get(name.lower())) is None:
                continue
            con.execute(f"comment on column {target}.{_identifier(column)} is {_literal(text)}")
            count += 1
    return count


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
