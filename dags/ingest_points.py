"""Airflow DAG ingest_points: land new points files into the raw layer (see memberdw.dags)."""

from memberdw.dags import ingestion_dag

ingestion_dag("points")
