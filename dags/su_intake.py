"""SU-Kvinnofrid intake: land every new kommun upload in the inbox into the warehouse's raw schema.

Each file is its own mapped task, so more workers land more uploads in parallel. Logic lives in
`sukvinnofrid.pipeline`; this file only wires it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

from sukvinnofrid import pipeline


@dag(
    dag_id="su_intake",
    schedule=timedelta(minutes=15),
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Stockholm"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": timedelta(seconds=20)},
    tags=["su-kvinnofrid", "intake"],
)
def su_intake():
    @task
    def find_new_uploads() -> list[str]:
        return pipeline.files_to_land()

    @task(max_active_tis_per_dagrun=16)
    def land_upload(path: str) -> dict:
        return pipeline.land(path)

    @task(outlets=[Asset(pipeline.RAW_ASSET)])
    def announce(results: list[dict]) -> dict:
        statuses = [result["status"] for result in results]
        return {status: statuses.count(status) for status in sorted(set(statuses))}

    announce(land_upload.expand(path=find_new_uploads()))


su_intake()
