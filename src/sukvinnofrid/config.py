"""Settings, all overridable by environment variables (the production path)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo


def _project_home() -> Path:
    if "SUKF_HOME" in os.environ:
        return Path(os.environ["SUKF_HOME"]).resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "dbt_project" / "dbt_project.yml").exists():
        return checkout
    return Path.cwd().resolve()


# The output folders of the rounds' sites (report.render_round): the public pages, which the
# web server serves (docker-compose.yml), and the statistics team's, which the Airflow plugin
# serves behind Airflow's login (airflow_plugin.py).
PUBLIC_SITE_ROOT = "rapport"
INTERNAL_SITE_ROOT = "intern"


@dataclass(frozen=True)
class Settings:
    home: Path
    # An external Postgres (postgresql://user:pass@host:5432/db); unset means the embedded one.
    warehouse_url: str | None
    # Share of rejected rows above which the whole upload is blocked.
    max_rejected_share: float
    # Published cells with a count below this are withheld.
    min_publish_count: int
    # Retention (sukvinnofrid.retention): days an upload no longer in force (replaced by a
    # correction, or blocked) keeps its archived original, its raw rows and its quality results;
    # days of Airflow's run history; days a stored disclosure decision that is not its round's
    # latest is kept. The defaults are get_settings()'s (docs/architecture.md says why).
    retain_archive_days: int
    retain_replaced_rows_days: int
    retain_quality_results_days: int
    retain_airflow_metadata_days: int
    retain_disclosure_decisions_days: int
    # Publish with population figures that are approximations (not SCB's), marked preliminary.
    # The shipped population seeds are approximations: only the demo and tests allow them.
    allow_approximate_population: bool = False
    # How the statistics protect small counts: 'suppression' (withheld cells, the default) or
    # 'ckm' (the Cell Key Method: consistent noise from a perturbation table, sukvinnofrid.cellkey)
    disclosure: str = "suppression"

    @property
    def airflow_metadata_db(self) -> str | None:
        """Airflow's metadata DB (an SQLAlchemy URL) for `airflow db clean` in retention: a task
        process's own Airflow has none (Airflow 3 replaces it with a URL that refuses every use),
        so the worker that runs retention is given it as SUKF_AIRFLOW_DB_CONN."""
        return os.environ.get("SUKF_AIRFLOW_DB_CONN") or None

    @property
    def var(self) -> Path:
        return self.home / "var"

    @property
    def inbox(self) -> Path:
        """Where kommuner's uploads arrive."""
        return Path(os.environ.get("SUKF_INBOX", self.var / "inbox"))

    @property
    def archive(self) -> Path:
        """Read-only copies of every landed original, by sha256."""
        return Path(os.environ.get("SUKF_ARCHIVE", self.var / "archive"))

    @property
    def output(self) -> Path:
        return Path(os.environ.get("SUKF_OUTPUT", self.home / "output"))

    @property
    def feedback_download(self) -> Path:
        """The kommuner's download folders: `<here>/<account>/` is the folder `aterkoppling/`
        of that SFTP account (infra/sftp/accounts.py), a volume the sftp service mounts
        read-only in production."""
        return Path(os.environ.get("SUKF_FEEDBACK_DOWNLOAD", self.var / "aterkoppling"))

    @property
    def contacts_file(self) -> Path:
        """Who at each kommun (SFTP account) gets the e-mail notice of its feedback: a CSV file
        `kod,e-post` outside the checkout (notify.kommun_contacts); none: no notices."""
        return Path(os.environ.get("SUKF_CONTACTS", self.var / "kontakter.csv"))

    @property
    def sftp_address(self) -> str:
        """The SFTP server as the kommuner reach it (`host` or `host:port`), for the notice."""
        return os.environ.get("SUKF_SFTP_ADDRESS", "").strip()

    @property
    def embedded_pgdata(self) -> Path:
        return Path(os.environ.get("SUKF_PGDATA", self.home / ".warehouse" / "pgdata"))

    @property
    def now(self) -> dt.datetime:
        """Now, in Swedish time (the round calendar's clock: when a file was received, whether
        a round is due); SUKF_NOW (ISO 8601 with its UTC offset) sets it for tests and reruns."""
        stockholm = ZoneInfo("Europe/Stockholm")
        if "SUKF_NOW" in os.environ:
            now = dt.datetime.fromisoformat(os.environ["SUKF_NOW"])
            if now.tzinfo is None:
                raise ValueError("SUKF_NOW must carry its UTC offset, e.g. 2024-02-15T08:00+01:00")
            return now.astimezone(stockholm)
        return dt.datetime.now(stockholm)

    @property
    def today(self) -> dt.date:
        """Today in Sweden (a round is closed from the day after its last day); SUKF_TODAY
        (ÅÅÅÅ-MM-DD) sets it for tests and reruns, else the date of `now`."""
        if "SUKF_TODAY" in os.environ:
            return dt.date.fromisoformat(os.environ["SUKF_TODAY"])
        return self.now.date()

    @property
    def dbt_project_dir(self) -> Path:
        return self.home / "dbt_project"


@cache
def get_settings() -> Settings:
    return Settings(
        home=_project_home(),
        warehouse_url=os.environ.get("SUKF_WAREHOUSE_URL") or None,
        max_rejected_share=float(os.environ.get("SUKF_MAX_REJECTED_SHARE", "0.2")),
        min_publish_count=int(os.environ.get("SUKF_MIN_PUBLISH_COUNT", "5")),
        allow_approximate_population=os.environ.get("SUKF_ALLOW_APPROXIMATE_POPULATION", "").lower()
        in {"1", "true", "yes", "ja"},
        disclosure=_disclosure(),
        retain_archive_days=_days("SUKF_RETAIN_ARCHIVE_DAYS", 730),
        retain_replaced_rows_days=_days("SUKF_RETAIN_REPLACED_ROWS_DAYS", 365),
        retain_quality_results_days=_days("SUKF_RETAIN_QUALITY_RESULTS_DAYS", 365),
        retain_airflow_metadata_days=_days("SUKF_RETAIN_AIRFLOW_METADATA_DAYS", 180),
        retain_disclosure_decisions_days=_days("SUKF_RETAIN_DISCLOSURE_DECISIONS_DAYS", 90),
    )


DISCLOSURE_METHODS = ("suppression", "ckm")


def _disclosure() -> str:
    method = os.environ.get("SUKF_DISCLOSURE", "").strip().lower() or DISCLOSURE_METHODS[0]
    if method not in DISCLOSURE_METHODS:
        choices = ", ".join(DISCLOSURE_METHODS)
        raise ValueError(f"SUKF_DISCLOSURE must be one of {choices}, not {method!r}")
    return method


def _days(variable: str, default: int) -> int:
    """A retention period; at least one day, so that nothing is removed the day it is replaced."""
    days = int(os.environ.get(variable, default))
    if days < 1:
        raise ValueError(f"{variable} must be at least 1 (days), not {days}")
    return days
