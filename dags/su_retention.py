"""SU-Kvinnofrid retention: daily, remove what the pipeline no longer needs and log it.

What is removed and when is `sukvinnofrid.retention`'s (the periods are SUKF_RETAIN_*); this file
only wires it. The inbox task runs on a worker of its own, the only one that may write the inbox
(docker-compose.yml, infra/airflow_local_settings.py).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from sukvinnofrid import pipeline

DOC_MD = """
### SU-Kvinnofrid: gallring

Varje natt tas det bort som flödet inte längre behöver. Allt som tas bort skrivs i tabellen
`ops.retention_log` i lagret: vad, var, varför, när och hur många rader eller byte (aldrig
filernas innehåll eller personuppgifter). Inget som en publicerad omgång bygger på tas bort: en
omgång som publiceras på nytt blir byte för byte densamma.

1. **clear_inbox** tömmer inkorgen på filer som har fått sitt besked: en mottagen fil finns
   skrivskyddad i arkivet och flyttas ut ur inkorgen; en fil som stoppades för personnummer
   raderas direkt och sparas aldrig. En fil som väntar på att omgången ska stänga ligger kvar.
2. **remove_expired** tar bort inlämnade rader (`SUKF_RETAIN_REPLACED_ROWS_DAYS`),
   kvalitetskontrollens resultat (`SUKF_RETAIN_QUALITY_RESULTS_DAYS`) och arkiverade original
   (`SUKF_RETAIN_ARCHIVE_DAYS`) för uppladdningar som ersatts av en rättelse eller stoppats, när
   de varit ur bruk längre än så. Uppladdningen finns kvar i registret med sin status.
   Den tar också bort röjandeskyddets sparade beslut som är äldre än
   `SUKF_RETAIN_DISCLOSURE_DECISIONS_DAYS` dagar, utom omgångens senaste (en publicerad version
   har sina beslut i sina filer).
3. **clean_airflow_metadata** tar bort Airflows körhistorik som är äldre än
   `SUKF_RETAIN_AIRFLOW_METADATA_DAYS` dagar (`airflow db clean`).

Resultatet (fliken XCom) är per slag: antal, rader och byte som togs bort.
Misslyckas en uppgift även efter omförsöken får statistikteamet e-post (`SUKF_ALERT_EMAIL`).
"""


@dag(
    dag_id="su_retention",
    schedule="0 3 * * *",
    doc_md=DOC_MD,
    **pipeline.dag_settings(retries=2, retry_delay=timedelta(minutes=5)),
    tags=["su-kvinnofrid", "retention"],
)
def su_retention():
    @task(execution_timeout=timedelta(minutes=30))
    def clear_inbox() -> dict:
        """Inkorgen: mottagna filer flyttas ut (de finns i arkivet), filer med personnummer
        raderas."""
        return pipeline.clear_inbox()

    @task(execution_timeout=timedelta(hours=1))
    def remove_expired() -> dict:
        """Rader, kvalitetsresultat och arkivfiler för uppladdningar som varit ur bruk längre
        än sin gallringsfrist."""
        return pipeline.remove_expired()

    @task(execution_timeout=timedelta(hours=1))
    def clean_airflow_metadata() -> dict:
        """Airflows körhistorik äldre än gallringsfristen."""
        return pipeline.clean_airflow_metadata()

    # independent: one failing holds none of the others back
    clear_inbox()
    remove_expired()
    clean_airflow_metadata()


su_retention()
