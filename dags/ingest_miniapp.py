"""Airflow DAG ingest_miniapp: land new miniapp files into the raw layer (see memberdw.dags)."""

from memberdw.dags import ingestion_dag

ingestion_dag("miniapp")
