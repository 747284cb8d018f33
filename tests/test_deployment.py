"""docker-compose.yml is valid and consistent with the code, without a Docker engine."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker"}


def test_services_for_a_celery_deployment():
    services = COMPOSE["services"]
    assert AIRFLOW_SERVICES | {"warehouse", "airflow-db", "redis", "airflow-init"} <= set(services)
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
        assert "@warehouse:5432/" in env["SUKF_WAREHOUSE_URL"]
        assert "@airflow-db:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    # Workers are scaled with --scale, so none may pin a container name or a host port.
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker


def test_every_dependency_names_a_defined_service():
    services = COMPOSE["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"


def test_dag_folder_and_image_match_the_repository():
    env = COMPOSE["services"]["airflow-scheduler"]["environment"]
    home = env["SUKF_HOME"]
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == f"{home}/dags"
    mounts = COMPOSE["services"]["airflow-scheduler"]["volumes"]
    assert f"./dags:{home}/dags:ro" in mounts
    dockerfile = (ROOT / COMPOSE["services"]["airflow-scheduler"]["build"]["dockerfile"]).read_text()
    assert "/opt/sukvinnofrid" in dockerfile and home == "/opt/sukvinnofrid"
    assert "requirements.lock" in dockerfile
    assert {p.stem for p in (ROOT / "dags").glob("su_*.py")} == {"su_intake", "su_round"}


def test_environment_variables_are_ones_the_code_reads():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src").rglob("*.py"))
    read_by_code = set(re.findall(r"\b(SUKF_[A-Z_]+)\b", source))
    env = COMPOSE["services"]["airflow-worker"]["environment"]
    configured = {name for name in env if name.startswith("SUKF_")}
    assert configured <= read_by_code, configured - read_by_code
    assert {"SUKF_WAREHOUSE_URL", "SUKF_PSEUDONYM_KEY"} <= configured


def test_env_example_covers_every_compose_variable():
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used <= example, used - example
