"""Airflow DAG transform: dbt build once every source has landed (see memberdw.dags)."""

from memberdw.dags import transform_dag

transform_dag()
