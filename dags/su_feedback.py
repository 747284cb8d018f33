"""SU-Kvinnofrid feedback: the quality gate and each kommun's feedback report as soon as uploads
land, in a DAG of its own.

Triggered by the intake DAG's asset; it never waits for a build, an approval or a publication
(su_round, which its asset triggers in turn). One run at a time: a run gates every upload landed
by then, so a run that queued behind another takes all that landed meanwhile. Logic lives in
`sukvinnofrid.pipeline`, the failure e-mail in `sukvinnofrid.notify`; this file only wires them.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, dag, task

from sukvinnofrid import pipeline

DOC_MD = """
### SU-Kvinnofrid: kvalitetskontroll och återkoppling

Startar när **su_intake** har tagit emot nya filer (eller manuellt). Kommunen får sin
återkoppling direkt: flödet väntar aldrig på att statistiken byggs, granskas eller publiceras.

1. **quality_gate** kontrollerar varje mottagen fil mot variabelkatalogens regler (Great
   Expectations). Resultatet (fliken XCom) är en rad per fil: kommun, omgång, beslut (`outcome`:
   godkänd `accepted` eller stoppad `blocked`), antal rader, avvisade rader, rader med fel,
   varningar, och var Data Docs och återkopplingen finns. Därefter startar **su_round**, som
   bygger statistiken av de godkända filerna.
2. **write_feedback** skriver återkopplingen till kommunen för varje fil som har fått sitt beslut
   men ingen återkoppling ännu: i nedladdningsmappen `aterkoppling/` för det SFTP-konto som
   lämnade filen, och statistikteamets kopia i `output/aterkoppling/<kommun>/<omgång>/`.
   Resultatet är en rad per återkoppling: kommun, omgång, filens status, var återkopplingen
   finns, kontot och var kontot hittar den (`download`).
3. **notify_kommuner** mejlar kontaktpersonerna för varje konto som har fått en återkoppling
   (kontaktfilen `SUKF_CONTACTS`) att den finns att hämta och var. Mejlet innehåller inget ur
   filen. Resultatet är en rad per skickat mejl: uppladdning, konto och antal mottagare.

Misslyckas en uppgift även efter omförsöken får statistikteamet e-post (`SUKF_ALERT_EMAIL`).
"""


@dag(
    dag_id="su_feedback",
    schedule=[Asset(pipeline.RAW_ASSET)],
    doc_md=DOC_MD,
    **pipeline.dag_settings(retries=2, retry_delay=timedelta(seconds=20)),
    tags=["su-kvinnofrid", "feedback"],
)
def su_feedback():
    @task(outlets=[Asset(pipeline.QUALITY_ASSET)], execution_timeout=timedelta(hours=1))
    def quality_gate() -> list[dict]:
        """Kvalitetskontroll av de mottagna filerna; resultatet är en sammanfattning per fil.
        Startar su_round."""
        return pipeline.gate_landed()

    @task(execution_timeout=timedelta(minutes=30))
    def write_feedback() -> list[dict]:
        """Återkopplingen till kommunen för varje beslutad fil som inte har någon ännu."""
        return pipeline.write_missing_feedback()

    @task(execution_timeout=timedelta(minutes=10))
    def notify_kommuner(written: list[dict]) -> list[dict]:
        """E-post till kommunens kontaktpersoner om att återkopplingen finns att hämta."""
        return pipeline.notify_kommuner(written)

    written = write_feedback()
    quality_gate() >> written
    notify_kommuner(written)


su_feedback()
