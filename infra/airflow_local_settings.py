"""Airflow cluster policy of the production image (copied to $AIRFLOW_HOME/config/).

Every task runs on the Celery queue of its pipeline stage, and docker-compose.yml gives each
queue its own worker service holding only that stage's warehouse login: the worker that reads
kommuner's files cannot read the marts, the one that publishes cannot read raw uploads, and only
the transform worker has the pseudonymisation key. A task that names no stage is refused when
the DAG is parsed, so it cannot wait forever on a queue no worker serves.
"""

from __future__ import annotations

from airflow.exceptions import AirflowClusterPolicyViolation

# dag_id -> {task_id: queue}; the queue's stage (its name up to a '_') is the
# SUKF_<STAGE>_PASSWORD login.
STAGE_OF_TASK = {
    "su_intake": {"find_new_uploads": "intake", "land_uploads": "intake", "announce": "intake"},
    # notify_kommuner reads the contacts file, which only the quality worker mounts.
    "su_feedback": {
        "quality_gate": "quality",
        "write_feedback": "quality",
        "notify_kommuner": "quality",
    },
    "su_round": {
        "gate_remaining": "quality",
        "dbt_build": "transform",
        "plan_publication": "publish",
        "publish_kolada": "publish",
        "review": "publish",
        "approve_publication": "publish",
        "record_approval": "publish",
        "approved_earlier": "publish",
        "report": "publish",
    },
    # who has delivered is in raw.uploads, which the quality stage reads
    "su_reminders": {"send_reminders": "quality"},
    # The inbox's cleanup has a queue of its own: its worker is the only one that may write the
    # inbox (as the SFTP server's user); it logs in as the retention stage.
    "su_retention": {
        "clear_inbox": "retention_inbox",
        "remove_expired": "retention",
        "clean_airflow_metadata": "retention",
    },
}


def task_policy(task) -> None:
    stage = STAGE_OF_TASK.get(task.dag_id, {}).get(task.task_id)
    if stage is None:
        raise AirflowClusterPolicyViolation(
            f"task {task.dag_id}.{task.task_id} has no pipeline stage: add it to STAGE_OF_TASK in "
            "infra/airflow_local_settings.py (the stage decides its worker and warehouse login)"
        )
    task.queue = stage
