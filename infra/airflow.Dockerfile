# Airflow 3 image with the project installed; used by every Airflow service in docker-compose.yml.
FROM apache/airflow:3.3.2-python3.11
USER root
COPY --chown=airflow:root . /opt/sukvinnofrid
USER airflow
RUN pip install --no-cache-dir -c /opt/sukvinnofrid/requirements.lock -e /opt/sukvinnofrid \
 && pip install --no-cache-dir "apache-airflow-providers-celery" "apache-airflow-providers-redis"
WORKDIR /opt/sukvinnofrid
