"""The steps of the chain, as plain functions: DAG tasks and the CLI call these."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import sqlalchemy as sa

from . import intake, warehouse
from .config import get_settings

log = logging.getLogger(__name__)


def land(path: str) -> dict:
    """Land one upload file (idempotent); returns the intake result as a dict for XCom."""
    warehouse.ensure_schema()
    return asdict(intake.land_upload(Path(path)))


def files_to_land() -> list[str]:
    warehouse.ensure_schema()
    return [str(p) for p in intake.new_files()]


def quality_gate() -> list[dict]:
    """Validate every landed upload and write each kommun's feedback report."""
    from .quality import feedback, gate

    warehouse.ensure_schema()
    results = gate.run_pending()
    for upload_id in uploads_without_feedback():
        feedback.write_feedback(upload_id)
    return [asdict(result) for result in results]


def uploads_without_feedback() -> list[int]:
    """Decided uploads whose feedback report has not been written yet."""
    from .quality import feedback

    with warehouse.engine().connect() as conn:
        decided = conn.execute(sa.text(
            "SELECT upload_id FROM raw.uploads WHERE status <> 'landed' ORDER BY upload_id")).scalars()
        return [upload_id for upload_id in decided if not feedback.feedback_path(upload_id).exists()]


def build_warehouse() -> None:
    from . import transform

    transform.build()


def latest_round() -> str | None:
    with warehouse.engine().connect() as conn:
        return conn.execute(sa.text(
            "SELECT max(round_id) FROM raw.uploads WHERE status IN ('accepted', 'superseded')")).scalar()


def publish(round_id: str | None = None) -> dict:
    from .kolada import publish as publish_kolada

    round_id = round_id or latest_round()
    if round_id is None:
        raise RuntimeError("no accepted upload yet: nothing to publish")
    publication = publish_kolada(round_id)
    return {"round_id": round_id, "directory": str(publication.directory),
            "version": publication.version, "reused": publication.reused}


def run_round(round_id: str | None = None) -> dict:
    """Intake, gate, dbt build and publication without a scheduler."""
    landed = [land(path) for path in files_to_land()]
    gated = quality_gate()
    build_warehouse()
    published = publish(round_id)
    return {"landed": landed, "gated": gated, "published": published,
            "feedback_dir": str(get_settings().output / "aterkoppling")}


# Airflow asset names linking the DAGs (the DAG files build Asset objects from these).
RAW_ASSET = "su_kvinnofrid_raw_case_records"
KOLADA_ASSET = "su_kvinnofrid_kolada_publication"
