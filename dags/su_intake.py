"""SU-Kvinnofrid intake: land every new kommun upload in the inbox into the warehouse's raw schema.

Each file is its own mapped task, so more workers land more uploads in parallel. Logic lives in
`sukvinnofrid.pipeline`, the failure e-mail in `sukvinnofrid.notify`; this file only wires them.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

from sukvinnofrid import notify, pipeline

DOC_MD = """
### SU-Kvinnofrid: mottagning av kommunernas filer

Var 15:e minut tas nya filer i inkorgen emot och sparas i lagret (schemat `raw`).

1. **find_new_uploads** listar filer som inte tagits emot tidigare (samma innehåll och namn en
   gång till är ingen ny fil). En fil vars namn innehåller ett personnummer stoppas direkt här
   och visas aldrig i Airflow.
2. **land_upload** tar emot en fil per uppgift; uppgiften visas med filens namn. Resultatet
   (fliken XCom) är filens besked: `landed` (mottagen, väntar på kvalitetskontroll), `blocked`
   (stoppad, med skälet i `message`) eller `duplicate` (redan mottagen).
3. **announce** räknar besked per status och startar flödet **su_round** (kvalitetskontroll,
   dbt och Kolada-publicering).

En fil som inte kan användas stoppas med ett meddelande till kommunen; det är inget fel i flödet.
Misslyckas en uppgift även efter omförsöken får statistikteamet e-post (`SUKF_ALERT_EMAIL`).
"""


@dag(
    dag_id="su_intake",
    schedule=timedelta(minutes=15),
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Stockholm"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    default_args={"retries": 3, "retry_delay": timedelta(seconds=20),
                  "on_failure_callback": notify.task_failed},
    user_defined_filters={"shown_file_name": pipeline.shown_file_name},
    tags=["su-kvinnofrid", "intake"],
)
def su_intake():
    @task(execution_timeout=timedelta(minutes=10))
    def find_new_uploads() -> list[str]:
        """Nya filer i inkorgen."""
        return pipeline.files_to_land()

    # A mapped task does not take its docstring as doc_md: given here.
    @task(max_active_tis_per_dagrun=16, execution_timeout=timedelta(minutes=20),
          multiple_outputs=False, map_index_template="{{ task.op_kwargs['path'] | shown_file_name }}",
          doc_md="Tar emot en fil: kontrollerar den och sparar raderna, eller stoppar den.")
    def land_upload(path: str) -> dict:
        return pipeline.land(path)

    @task(outlets=[Asset(pipeline.RAW_ASSET)], execution_timeout=timedelta(minutes=5),
          multiple_outputs=False)
    def announce(results: list[dict]) -> dict:
        """Antal filer per besked; startar su_round."""
        statuses = [result["status"] for result in results]
        return {status: statuses.count(status) for status in sorted(set(statuses))}

    announce(land_upload.expand(path=find_new_uploads()))


su_intake()
