"""Airflow DAG ingest_crm: land new crm files into the raw layer (see memberdw.dags)."""

from memberdw.dags import ingestion_dag

ingestion_dag("crm")
