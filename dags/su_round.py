"""SU-Kvinnofrid round: quality gate → dbt build → Kolada publication, whenever uploads land.

Triggered by the intake DAG's asset; `round_id` (ÅÅÅÅ-MM) picks the round to publish, by default
the latest round with an accepted upload.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, task

from sukvinnofrid import pipeline


@dag(
    dag_id="su_round",
    schedule=[Asset(pipeline.RAW_ASSET)],
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Stockholm"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=20)},
    params={"round_id": Param(None, type=["null", "string"], pattern=r"^\d{4}-(0[1-9]|1[0-2])$")},
    tags=["su-kvinnofrid", "round"],
)
def su_round():
    @task
    def quality_gate() -> list[dict]:
        return pipeline.quality_gate()

    @task
    def dbt_build() -> None:
        pipeline.build_warehouse()

    @task(outlets=[Asset(pipeline.KOLADA_ASSET)])
    def publish_kolada(params: dict | None = None) -> dict:
        return pipeline.publish((params or {}).get("round_id"))

    quality_gate() >> dbt_build() >> publish_kolada()


su_round()
