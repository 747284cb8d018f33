"""Run the dbt project (staging -> intermediate -> marts) in-process.

    run_dbt(["build"])   any dbt command; raises DbtError with dbt's failure summary
    build()              seeds, models, snapshots and tests in one `dbt build`
    docs_generate()      the dbt docs catalogue (target/index.html, catalog.json)

The connection comes from `warehouse.dbt_environment()` (SUKF_PG* variables read by
dbt_project/profiles.yml). Identifiers (klient v4, handläggare v3) are replaced by a keyed hash in
staging; the key is SUKF_PSEUDONYM_KEY, or when unset a per-installation random key kept in
`<home>/.warehouse/pseudonym.key` or SUKF_PSEUDONYM_KEY_FILE (created with mode 0600).

dbt writes the SQL it runs to target/ and logs/, so the key is never part of it: before each dbt
invocation `store_pseudonym_key` puts it in the warehouse table `secrets.pseudonym_key`
(readable only by the owner and sukf_transform), and the `pseudonymise` macro reads it there.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import secrets
import threading
from pathlib import Path

import sqlalchemy as sa

from . import warehouse
from .config import get_settings

log = logging.getLogger(__name__)

PSEUDONYM_KEY_ENV = "SUKF_PSEUDONYM_KEY"
PSEUDONYM_KEY_FILE_ENV = "SUKF_PSEUDONYM_KEY_FILE"
_lock = threading.Lock()  # dbtRunner is not re-entrant within one process


class DbtError(RuntimeError):
    """A dbt invocation failed; the message is dbt's failure summary."""


def pseudonym_key_path() -> Path:
    """The installation's key file: SUKF_PSEUDONYM_KEY_FILE, else `<home>/.warehouse/`."""
    if os.environ.get(PSEUDONYM_KEY_FILE_ENV):
        return Path(os.environ[PSEUDONYM_KEY_FILE_ENV])
    return get_settings().home / ".warehouse" / "pseudonym.key"


def write_key_file(path: Path, key: str) -> None:
    """A new file holding the key, readable by its owner only (mode 0600 from its creation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)


def pseudonym_key() -> str:
    """The pseudonymisation key: SUKF_PSEUDONYM_KEY, else the installation's key file."""
    if os.environ.get(PSEUDONYM_KEY_ENV):
        return os.environ[PSEUDONYM_KEY_ENV]
    path = pseudonym_key_path()
    if not path.exists():
        write_key_file(path, secrets.token_hex(32))
        log.warning("created a new pseudonymisation key in %s: keep it with the warehouse", path)
    key = path.read_text().strip()
    if not key:
        raise DbtError(f"pseudonymisation key file {path} is empty")
    return key


def store_pseudonym_key(engine: sa.Engine | None = None) -> bool:
    """Put the key where the staging model's hash reads it (`secrets.pseudonym_key`, one row),
    unless it is there already; True if it was written. Compared by digest and sent with COPY,
    so no SQL statement (nor a server log of one) carries the key."""
    key = pseudonym_key()
    engine = engine or warehouse.stage_engine("transform")
    with engine.begin() as conn:
        if conn.execute(sa.text("SELECT to_regclass('secrets.pseudonym_key')")).scalar() is None:
            raise DbtError(
                "the warehouse has no table secrets.pseudonym_key: run "
                "`sukvinnofrid warehouse init` and `sukvinnofrid warehouse roles` as its owner"
            )
        # One writer at a time (readers are not blocked): two processes cannot both insert.
        conn.execute(sa.text("LOCK TABLE secrets.pseudonym_key IN SHARE ROW EXCLUSIVE MODE"))
        stored = conn.execute(
            sa.text(
                "SELECT encode(sha256(convert_to(key, 'UTF8')), 'hex') FROM secrets.pseudonym_key"
            )
        ).scalar()
        if stored == hashlib.sha256(key.encode("utf-8")).hexdigest():
            return False
        conn.execute(sa.text("DELETE FROM secrets.pseudonym_key"))
        quoted = '"' + key.replace('"', '""') + '"\n'
        with conn.connection.cursor() as cursor:
            cursor.copy_expert(
                "COPY secrets.pseudonym_key (key) FROM STDIN WITH (FORMAT csv)", io.StringIO(quoted)
            )
    log.info("pseudonymisation key stored in the warehouse (secrets.pseudonym_key)")
    return True


def _failure_summary(result) -> str:
    lines: list[str] = []
    if result.exception is not None:
        lines.append(f"{type(result.exception).__name__}: {result.exception}")
    run_results = getattr(result.result, "results", None) or []
    for node_result in run_results:
        status = str(getattr(node_result, "status", ""))
        if status.lower().split(".")[-1] in {"error", "fail", "runtimeerr"}:
            node = getattr(node_result, "node", None)
            name = getattr(node, "unique_id", "?")
            message = (getattr(node_result, "message", "") or "").strip()
            failures = getattr(node_result, "failures", None)
            extra = f" ({failures} failing rows)" if failures else ""
            lines.append(f"{status.split('.')[-1].upper()} {name}{extra}: {message}")
    return "\n".join(lines) or "dbt failed without a summary (see dbt_project/logs/dbt.log)"


def run_dbt(args: list[str], project_dir: Path | None = None) -> object:
    """Invoke dbt in-process with the warehouse connection; raise DbtError on failure.

    `project_dir` defaults to get_settings().dbt_project_dir (profiles.yml lives there too).
    Returns dbt's result object (e.g. RunExecutionResult) for callers that want it.
    """
    from dbt.cli.main import dbtRunner

    project_dir = Path(project_dir or get_settings().dbt_project_dir)
    os.environ.update(warehouse.dbt_environment())
    cli_args = [*args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
    log.info("dbt %s", " ".join(args))
    with _lock:
        store_pseudonym_key()
        result = dbtRunner().invoke(cli_args)
    if not result.success:
        raise DbtError(f"dbt {' '.join(args)} failed:\n{_failure_summary(result)}")
    return result.result


def build(
    project_dir: Path | None = None,
    select: list[str] | None = None,
    full_refresh: bool = False,
    unit_tests: bool = False,
    seeds: bool = True,
    variables: dict | None = None,
) -> None:
    """Seeds, staging/intermediate/marts models, the case-state snapshot and all data tests.
    The incremental models add only new uploads and rebuild only what changed; `full_refresh`
    rebuilds them from scratch (needed when the models, seeds or pseudonym key changed).
    The dbt unit tests test the models' code, not the data, so a round's build leaves them out
    (as dbt recommends for production); `unit_tests` runs them too (the test suite, CI).
    `seeds=False` leaves the seeds as they are in the warehouse (the caller knows they have not
    changed since they were loaded); their data tests still run. `variables` are the project's
    vars (e.g. round_cutoffs)."""
    args = ["build"]
    if variables:
        args += ["--vars", json.dumps(variables, sort_keys=True)]
    if select:
        args += ["--select", *select]
    if full_refresh:
        args.append("--full-refresh")
    excluded = [kind for kind, wanted in (("unit_test", unit_tests), ("seed", seeds)) if not wanted]
    if excluded:
        args += ["--exclude-resource-type", *excluded]
    run_dbt(args, project_dir=project_dir)


def target_dir(project_dir: Path | None = None) -> Path:
    """Where dbt writes its manifest, run results and docs: dbt's own DBT_TARGET_PATH (a
    relative path is inside the project, as dbt reads it), else `<project>/target`."""
    project_dir = Path(project_dir or get_settings().dbt_project_dir)
    return project_dir / os.environ.get("DBT_TARGET_PATH", "target")


def docs_generate(project_dir: Path | None = None) -> Path:
    """Generate the dbt docs site; returns the target directory holding index.html."""
    project_dir = Path(project_dir or get_settings().dbt_project_dir)
    run_dbt(["docs", "generate"], project_dir=project_dir)
    return target_dir(project_dir)
