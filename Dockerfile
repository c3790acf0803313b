# memberdw on the official Airflow image: the pinned runtime dependencies of requirements.lock
# (never requirements-dev.lock: no pytest, sqlfluff or docker-compose binary in the image), the
# repo at /opt/memberdw, memberdw installed editable (docker-compose.yml mounts ./dags, ./src,
# ./expectations, ./models and ./dbt_project over the copies here, so code edits need no
# rebuild; a change to requirements.lock does). The Airflow and Python versions must stay those
# of pyproject.toml (apache-airflow==3.3.2, Python 3.11); tests/test_docker_compose.py checks it.
FROM apache/airflow:3.3.2-python3.11

# Mount points the Airflow user (any UID, group 0) must write: a new named volume takes its
# owner and mode from the image's directory, so `airflow-auth` starts writable. The warehouse is
# a host folder (bind mount) that hides this directory; airflow-init hands it to AIRFLOW_UID.
USER root
RUN install -d -o airflow -g 0 -m 0775 \
        /opt/memberdw /opt/memberdw/warehouse /opt/memberdw/landing /opt/airflow/auth
USER airflow

# Dependencies first, so that a code change does not reinstall them. requirements.lock pins
# apache-airflow to the base image's version; naming it again, as the Airflow image docs do,
# keeps pip from ever moving it.
COPY --chown=airflow:0 requirements.lock /opt/memberdw/requirements.lock
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/memberdw/requirements.lock

COPY --chown=airflow:0 . /opt/memberdw
RUN pip install --no-cache-dir --no-deps -e /opt/memberdw \
    && python -c "import memberdw.pipeline as p; assert str(p.DBT_PROJECT_DIR) == '/opt/memberdw/dbt_project', p.DBT_PROJECT_DIR"
