"""``python -m expectations``: rewrite dbt_project/macros/dq_registry.sql from the suites."""

from expectations import DBT_REGISTRY, render_dbt_registry

DBT_REGISTRY.write_text(render_dbt_registry(), encoding="utf-8")
print(f"wrote {DBT_REGISTRY}")
