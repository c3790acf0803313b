"""Airflow DAG ingest_stores: land new stores files into the raw layer (see memberdw.dags)."""

from memberdw.dags import ingestion_dag

ingestion_dag("stores")
