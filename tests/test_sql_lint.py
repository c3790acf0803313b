"""Every dbt model passes sqlfluff (dbt templater, duckdb dialect; rules in .sqlfluff)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_models_pass_sqlfluff(tmp_path):
    env = {**os.environ, "MEMBERDW_WAREHOUSE_DIR": str(tmp_path)}
    result = subprocess.run([Path(sys.executable).with_name("sqlfluff"), "lint", "models"],
                            cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "FAIL" not in result.stdout
