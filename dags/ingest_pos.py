"""Airflow DAG ingest_pos: land new pos files into the raw layer (see memberdw.dags)."""

from memberdw.dags import ingestion_dag

ingestion_dag("pos")
