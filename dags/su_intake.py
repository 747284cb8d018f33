"""SU-Kvinnofrid intake: land every new kommun upload in the inbox into the warehouse's raw schema.

The new files are landed by up to `pipeline.LANDING_TASKS` mapped tasks (one file each while
there are no more files than that), so more workers land more uploads in parallel. Logic lives in
`sukvinnofrid.pipeline`, the failure e-mail in `sukvinnofrid.notify`; this file only wires them.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, dag, task

from sukvinnofrid import pipeline

DOC_MD = """
### SU-Kvinnofrid: mottagning av kommunernas filer

Nya filer i inkorgen tas emot och sparas i lagret (schemat `raw`). Flödet startar direkt när en
kommun har laddat upp en fil över SFTP (SFTP-serverns anrop till Airflow, som kontot
`UploadHook` gör), och dessutom en gång i timmen som skyddsnät om ett anrop inte kom fram. En fil
som redan tagits emot läses inte om: dess kontrollsumma finns sparad så länge filen är oförändrad.

1. **find_new_uploads** listar filer som inte tagits emot tidigare (samma innehåll och namn en
   gång till är ingen ny fil) och fördelar dem på högst 16 uppgifter. En fil vars namn innehåller
   ett personnummer stoppas direkt här och visas aldrig i Airflow.
2. **land_uploads** tar emot filerna: en fil per uppgift, och kommer fler än 16 filer på en gång
   delas de upp på 16 uppgifter med ungefär lika mycket data var. Uppgiften visas med filens
   namn, eller med första och sista filens namn och antalet filer. Resultatet (fliken XCom) är
   en lista med varje fils besked: `landed` (mottagen, väntar på kvalitetskontroll), `blocked`
   (stoppad, med skälet i `message`) eller `duplicate` (redan mottagen).
3. **announce** räknar besked per status och startar flödet **su_feedback**
   (kvalitetskontroll och återkoppling till kommunen), som i sin tur startar **su_round** (dbt
   och publicering).

En fil som inte kan användas stoppas med ett meddelande till kommunen; det är inget fel i flödet.
Misslyckas en uppgift även efter omförsöken får statistikteamet e-post (`SUKF_ALERT_EMAIL`).
"""


@dag(
    dag_id="su_intake",
    schedule=pipeline.INTAKE_POLL,
    # SFTPGo's upload hook starts runs as the hook's account (airflow_plugin.upload_hook); with
    # the FAB auth manager its role may read and trigger this DAG only.
    access_control={
        pipeline.UPLOAD_HOOK_ROLE: {
            "DAGs": {"can_read", "can_edit"},
            "DAG Runs": {"can_create", "can_read"},
        }
    },
    doc_md=DOC_MD,
    **pipeline.dag_settings(retries=3, retry_delay=timedelta(seconds=20)),
    user_defined_filters={"shown_file_names": pipeline.shown_file_names},
    tags=["su-kvinnofrid", "intake"],
)
def su_intake():
    @task(execution_timeout=timedelta(minutes=10))
    def find_new_uploads() -> list[list[str]]:
        """Nya filer i inkorgen, fördelade på högst 16 uppgifter."""
        return pipeline.landing_batches(pipeline.files_to_land())

    # A mapped task does not take its docstring as doc_md: given here.
    @task(
        max_active_tis_per_dagrun=pipeline.LANDING_TASKS,
        execution_timeout=timedelta(minutes=20),
        multiple_outputs=False,
        map_index_template="{{ task.op_kwargs['paths'] | shown_file_names }}",
        doc_md="Tar emot filer, en i taget: kontrollerar filen och sparar raderna, eller "
        "stoppar den.",
    )
    def land_uploads(paths: list[str]) -> list[dict]:
        return pipeline.land(paths)

    @task(
        outlets=[Asset(pipeline.RAW_ASSET)],
        execution_timeout=timedelta(minutes=5),
        multiple_outputs=False,
    )
    def announce(results: list[list[dict]]) -> dict:
        """Antal filer per besked; startar su_feedback."""
        statuses = [verdict["status"] for verdicts in results for verdict in verdicts]
        return {status: statuses.count(status) for status in sorted(set(statuses))}

    announce(land_uploads.expand(paths=find_new_uploads()))


su_intake()
