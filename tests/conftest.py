"""Test-wide settings: Airflow reads its configuration when first imported, so point it at
a private home before any test imports it. The pipeline refuses to run without a PII key:
the tests use one of their own (tests that need another set it themselves)."""

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_home = Path(tempfile.mkdtemp(prefix="memberdw-test-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(_home),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_home}/airflow.db",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "MEMBERDW_PII_KEY": "memberdw-tests-key-not-secret-0123456789abcdef",
})
for _name in ("MEMBERDW_PII_KEY_FILE", "MEMBERDW_PII_KEY_PREVIOUS", "MEMBERDW_PII_KEY_PREVIOUS_FILE"):
    os.environ.pop(_name, None)
