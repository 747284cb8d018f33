# Airflow 3 image with the project installed; every Airflow service in docker-compose.yml runs it.
# The build context is filtered by .dockerignore (an allowlist): no uploads, archive, outputs,
# keys, passwords or local state can end up in the image.
FROM apache/airflow:3.3.2-python3.11
USER root
# Mount points of the data volumes, owned by the airflow user (uid 50000) so a new volume starts
# writable by it; the data-init service in docker-compose.yml sets the ownership of existing ones.
RUN mkdir -p /data/inbox /data/archive /data/output && chown -R airflow:root /data
COPY --chown=airflow:root . /opt/sukvinnofrid
# Routes each task to the Celery queue of its stage (the worker with that stage's login only).
COPY --chown=airflow:root infra/airflow_local_settings.py /opt/airflow/config/airflow_local_settings.py
USER airflow
# The FAB auth manager (users and roles in the metadata DB) replaces the development
# SimpleAuthManager; apache-airflow is pinned so no provider can change the Airflow version.
RUN pip install --no-cache-dir -c /opt/sukvinnofrid/requirements.lock -e /opt/sukvinnofrid \
 && pip install --no-cache-dir "apache-airflow==3.3.2" apache-airflow-providers-celery \
      apache-airflow-providers-redis apache-airflow-providers-fab
WORKDIR /opt/sukvinnofrid
