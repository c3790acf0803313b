"""Airflow DAG ingest_marketing: land new marketing files into the raw layer (see memberdw.dags)."""

from memberdw.dags import ingestion_dag

ingestion_dag("marketing")
