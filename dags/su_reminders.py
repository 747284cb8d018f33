"""SU-Kvinnofrid reminders: every morning, on the round calendar's reminder days, an e-mail to
each expected unit that has not delivered yet (`sukvinnofrid.reminders`)."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronTriggerTimetable, dag, task

from sukvinnofrid import pipeline, rounds

DOC_MD = """
### SU-Kvinnofrid: påminnelser före sista leveransdagen

Körs varje morgon kl. 07.00. På omgångskalenderns påminnelsedagar (`reference/rounds.yaml`,
normalt 14 och 3 dagar före sista leveransdagen) får varje enhet i deltagarförteckningen som
ännu inte har lämnat någon fil för omgången ett e-postmeddelande till sina kontakter
(`kontakter.csv`, som för aviseringen om återkopplingen) med sista leveransdag och
publiceringsdag. Meddelandet innehåller inga
uppgifter om ärenden.

1. **send_reminders** skickar dagens påminnelser. Resultatet (fliken XCom) är en rad per enhet:
   omgång, enhet, antal mottagare och om e-posten skickades (en enhet utan kontakt får ingen;
   ring den).

Uppgiften görs inte om av sig själv (ett nytt försök skulle skicka påminnelserna igen).
Misslyckas den får statistikteamet e-post (`SUKF_ALERT_EMAIL`).
"""


@dag(
    dag_id="su_reminders",
    schedule=CronTriggerTimetable("0 7 * * *", timezone=rounds.STOCKHOLM.key),
    doc_md=DOC_MD,
    # no retry: a second try would mail the units reminded before the failure again
    **pipeline.dag_settings(retries=0, retry_delay=timedelta(minutes=5)),
    tags=["su-kvinnofrid", "reminders"],
)
def su_reminders():
    @task(execution_timeout=timedelta(minutes=15))
    def send_reminders() -> list[dict]:
        """Dagens påminnelser till enheter som inte har lämnat sin fil."""
        return pipeline.send_reminders()

    send_reminders()


su_reminders()
