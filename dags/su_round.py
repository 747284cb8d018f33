"""SU-Kvinnofrid round: dbt build → publication on the round calendar → the round's site.

Triggered by su_feedback's asset (the gate and the kommuner's feedback are su_feedback's, which
never waits for this DAG) and at every publication time of the round calendar (08:00
Europe/Stockholm; `sukvinnofrid.rounds`). The first task gates only what su_feedback has not
yet, as a safety net. A round is published at its publication time, not before, from the files
received by its last delivery day; a file received later makes a revision at the next run.
`round_id` (ÅÅÅÅ-MM) picks the round, by default the latest round whose publication time has come,
or when that one is current an earlier published round with a late or corrected delivery since (its
revision; `pipeline.round_to_publish`). With SUKF_REQUIRE_APPROVAL set (in the environment the DAG
is parsed in), a draft and its Granskning are written once the last delivery day has passed and a
person's approval is asked (Airflow's human-in-the-loop ApprovalOperator) ahead of the publication
time, once per publication; the approval is recorded and the run at the publication time publishes
it (the approving run itself, when the time has passed). A run with nothing new asks nobody. Logic
lives in `sukvinnofrid.pipeline`, the failure e-mail in `sukvinnofrid.notify`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    MultipleCronTriggerTimetable,
    Param,
    TriggerRule,
    dag,
    task,
)

from sukvinnofrid import pipeline, rounds

# a publication writes a draft or the release only after its audit's passes
# (statistics.AUDIT_PASSES): on the national benchmark round the first attack alone took 21 min
PUBLICATION_TIMEOUT = timedelta(hours=2)  # the most any task may run (tests/test_dags.py)

DOC_MD = """
### SU-Kvinnofrid: statistiken, publiceringen och Kolada

Startar när **su_feedback** har kontrollerat nya filer, varje dag på publiceringstiden i
omgångskalendern (kl. 08.00), eller manuellt, med `round_id` ÅÅÅÅ-MM för den omgång som ska
publiceras; utan den gäller den senaste omgång vars publiceringstid har kommit, eller, när den
redan är publicerad som den står, en tidigare publicerad omgång som har fått en sen eller rättad
leverans sedan dess (den revideras; den äldsta först). Kvalitetskontrollen
och återkopplingen till kommunerna sköter **su_feedback**, som aldrig väntar på det här flödet.

En omgång publiceras en gång, på sin publiceringsdag kl. 08.00, med de filer som kom in senast
sista leveransdagen. Före publiceringstiden publiceras ingenting. En fil som kommer in senare
(eller en rättelse) ger en **revidering**: en ny version med en revisionslogg
(`revisionslogg.csv`) över vilka värden som ändrades, från vad till vad och varför.

1. **gate_remaining** kontrollerar de filer som su_feedback ännu inte har kontrollerat och
   skriver deras återkoppling (normalt inga: en säkerhetsåtgärd, t.ex. när flödet startas
   manuellt).
   Resultatet (fliken XCom) är en rad per fil som kontrollerades här.
2. **dbt_build** bygger statistiken (staging → intermediate → marts); hoppas över om inget nytt
   har kommit in.
3. **publish_kolada** skriver Kolada-filerna och statistiken för omgången när dess
   publiceringstid har kommit (en ny version bara när något ändrats); annars ingenting.
4. **report** skriver omgångens webbplats, `output/rapport/<omgång>/index.html`: nationell
   rapport, kommun- och länssidor och nedladdning; och de interna sidorna för statistikteamet,
   `output/intern/<omgång>/index.html`: omgångskonsol, granskning och leveranserna.

Med `SUKF_REQUIRE_APPROVAL` satt avgör **plan_publication** först vad körningen gör. Finns det
något nytt att publicera (en första publicering när sista leveransdagen har passerat, eller en
revidering) som ingen har godkänt skriver **review** ett utkast av publiceringen och dess
webbplats med granskningen (`output/granskning/<omgång>/intern/granskning.html`), och
**approve_publication** väntar på att någon godkänner under *Required Actions*. Godkänn:
**record_approval** sparar godkännandet, och publiceringen och webbplatsen skrivs på
publiceringstiden (kl. 08.00, av körningen då) eller direkt om den redan har passerat. Avvisa:
inget publiceras. Är det godkända redan på sin publiceringstid publiceras det via
**approved_earlier** utan att någon tillfrågas igen; annars hoppas resten över.

Misslyckas en uppgift även efter omförsöken får statistikteamet e-post (`SUKF_ALERT_EMAIL`).
"""


@dag(
    dag_id="su_round",
    schedule=AssetOrTimeSchedule(
        timetable=MultipleCronTriggerTimetable(
            *rounds.publication_crons(), timezone=rounds.STOCKHOLM.key
        ),
        assets=[Asset(pipeline.QUALITY_ASSET)],
    ),
    doc_md=DOC_MD,
    **pipeline.dag_settings(retries=2, retry_delay=timedelta(seconds=20)),
    params={"round_id": Param(None, type=["null", "string"], pattern=r"^\d{4}-(0[1-9]|1[0-2])$")},
    tags=["su-kvinnofrid", "round"],
)
def su_round():
    @task(execution_timeout=timedelta(hours=1))
    def gate_remaining() -> list[dict]:
        """Kvalitetskontroll och återkoppling av filer som su_feedback inte har hunnit med;
        resultatet är en sammanfattning per fil som kontrollerades här."""
        return pipeline.quality_gate()

    @task(execution_timeout=timedelta(hours=1))
    def dbt_build() -> bool:
        """dbt build av lagrets modeller; false om inget hade ändrats (inget byggdes)."""
        return pipeline.build_warehouse()

    if not pipeline.approval_required():

        @task(
            outlets=[Asset(pipeline.KOLADA_ASSET)],
            execution_timeout=PUBLICATION_TIMEOUT,
            multiple_outputs=False,
        )
        def publish_kolada(params: dict | None = None) -> dict:
            """Kolada-filerna och statistiken för omgången, när dess publiceringstid har
            kommit."""
            return pipeline.publish((params or {}).get("round_id"))

    @task(
        inlets=[Asset(pipeline.KOLADA_ASSET)],
        outlets=[Asset(pipeline.REPORT_ASSET)],
        execution_timeout=timedelta(minutes=15),
    )
    def report(published: dict) -> dict:
        """Omgångens webbplats (output/rapport/<omgång>/index.html); ingen när inget
        publicerades."""
        return pipeline.report_published(published)

    built = gate_remaining() >> dbt_build()
    if pipeline.approval_required():

        @task.branch(execution_timeout=timedelta(minutes=15))
        def plan_publication(params: dict | None = None) -> list[str]:
            """Vad ska göras: granskning och godkännande av något nytt (efter sista
            leveransdagen), publicering av det godkända när publiceringstiden har kommit, eller
            ingenting; resultatet är uppgifterna som körs."""
            plan = pipeline.publication_plan((params or {}).get("round_id"))
            return {"ask": ["review"], "publish": ["approved_earlier"]}.get(plan["action"], [])

        @task(execution_timeout=PUBLICATION_TIMEOUT)
        def review(params: dict | None = None) -> dict:
            """Utkast av publiceringen och webbplatsen med granskningen, före godkännandet."""
            return pipeline.review((params or {}).get("round_id"))

        approval = ApprovalOperator(
            task_id="approve_publication",
            subject="SU-Kvinnofrid: godkänn publiceringen av omgång "
            "{{ ti.xcom_pull(task_ids='review')['round_id'] }}",
            body="Granska omgången innan Kolada-filerna och statistiken publiceras: "
            "[Granskning av omgång {{ ti.xcom_pull(task_ids='review')['round_id'] }}]"
            "({{ ti.xcom_pull(task_ids='review')['granskning'] }})\n\n"
            "Godkänn: publiceringen och webbplatsen skrivs på publiceringstiden "
            "({{ ti.xcom_pull(task_ids='review')['publication'] }}), eller direkt om den redan "
            "har passerat. Avvisa: inget publiceras.",
            response_timeout=timedelta(days=14),
            doc_md="Väntar på att statistikteamet godkänner publiceringen efter granskningen.",
        )

        @task(execution_timeout=timedelta(minutes=5))
        def record_approval(reviewed: dict, ti=None) -> dict:
            """Godkännandet sparas (ops.publication_approvals) för publiceringen på
            publiceringstiden."""
            answer = ti.xcom_pull(task_ids="approve_publication") or {}
            user = answer.get("responded_by_user") or {}  # {"id": …, "name": …}
            return pipeline.record_approval(
                reviewed["round_id"], reviewed["inputs_sha256"], user.get("name") or user.get("id")
            )

        # the branch's way to the publication of a draft approved by an earlier run
        approved_earlier = EmptyOperator(task_id="approved_earlier")

        @task(
            outlets=[Asset(pipeline.KOLADA_ASSET)],
            execution_timeout=PUBLICATION_TIMEOUT,
            multiple_outputs=False,
            trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
        )
        def publish_kolada(params: dict | None = None) -> dict:
            """Det godkända: Kolada-filerna och statistiken när publiceringstiden har kommit
            (annars ingenting förrän körningen på publiceringstiden)."""
            return pipeline.publish_approved((params or {}).get("round_id"))

        reviewed = review()
        plan = built >> plan_publication()
        plan >> [reviewed, approved_earlier]
        published = publish_kolada()
        reviewed >> approval >> record_approval(reviewed) >> published
        approved_earlier >> published
    else:
        published = publish_kolada()
        built >> published
    report(published)


su_round()
