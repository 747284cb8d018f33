"""Benchmark: a national round (290 kommuner, Stockholm and Göteborg by their 23 stadsdelar,
100 000 cases) through every stage, ending with the round's site (the report stage).

Usage: .venv/bin/python bench/national_round.py [--cases 100000] [--out bench/results.json]
                                                 [--only airflow|correction|gate] [--workdir DIR]

Each stage runs in its own process so its peak memory (RSS, polled) is its own; the embedded
Postgres server's memory is not included. The floor is what the same machine needs at the
least: PostgreSQL COPY of the same rows plus one SQL aggregate of the first key figure.
A re-run with no new uploads is measured on the same warehouse, and a round of every tenth
kommun (the same cases per kommun) in a warehouse of its own gives peak memory against the
number of files. The site is rendered a second time to check that unchanged data gives the same
bytes (nothing is written).

The Airflow path: the same round in a warehouse and AIRFLOW_HOME of its own, through the real
DAGs as `airflow dags test` runs them (`airflow_local.run_dag("su_intake")`, then "su_feedback"
and "su_round"),
each DAG run timed as a whole (the `airflow` process included) with every task's duration from
Airflow's metadata DB; then both again with nothing new; then one kommun's corrected upload into
its account folder through su_intake and su_feedback, timed from the upload to its feedback
report in the account's download folder, with each task's duration. `--only airflow` measures
just that and puts it into the existing results file; `--only correction --workdir DIR` times
another corrected upload on the Airflow path an earlier run left in DIR. `--only gate` measures
the publication of the round alone, with each pass of its disclosure gate (the protection and
the audit), and puts it into the existing results file as `publication_gate`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
ROUND = "2023-12"
NEXT_ROUND = "2024-06"
STAGE_NAMES = ("intake", "quality_gate", "dbt_build", "publication", "report")


def stage_code(name: str, round_id: str) -> str:
    """The Python each stage runs (in a process of its own)."""
    return (
        "from sukvinnofrid import pipeline; "
        + {
            "intake": "pipeline.land_new_files()",
            "quality_gate": "pipeline.quality_gate()",
            "dbt_build": "pipeline.build_warehouse()",
            "publication": f"pipeline.publish({round_id!r})",
            "report": f"print('site', pipeline.report({round_id!r}))",
        }[name]
    )


def run_measured(code: str, env: dict[str, str], check: bool = True) -> dict:
    """Run Python code in a child process; wall time and peak RSS of it and its children
    (without `check`, also its exit code, where a failure raises otherwise)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    handle = psutil.Process(process.pid)
    peak = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not stop.is_set():
            try:
                rss = handle.memory_info().rss + sum(
                    c.memory_info().rss for c in handle.children(recursive=True)
                )
                peak = max(peak, rss)
            except psutil.Error:
                pass
            stop.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    returncode = process.wait()
    stop.set()
    poller.join()
    if returncode != 0 and check:
        raise SystemExit(f"stage failed with exit code {returncode}: {code}")
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(peak / 2**20, 1),
        **({} if check else {"exit_code": returncode}),
    }


def dag_runs(env: dict[str, str], report_dir: Path, label: str) -> dict:
    """su_intake, su_feedback, then su_round for the round, each `airflow dags test` in a process
    of its own (run_dag raises unless every task succeeded on its first try). Per DAG: the
    process's wall time and peak memory, the run's time as Airflow recorded it and each task's
    duration (a mapped task's as count, sum and the slowest)."""
    runs = {}
    for dag_id, conf in (
        ("su_intake", None),
        ("su_feedback", None),
        ("su_round", {"round_id": ROUND}),
    ):
        report_file = report_dir / f"{label}-{dag_id}.json"
        code = f"""
import json
from sukvinnofrid import airflow_local
report = airflow_local.run_dag({dag_id!r}, {conf!r})
json.dump({{"run_seconds": report.seconds,
           "tasks": [[t.task_id, t.map_index, t.seconds] for t in report.tasks]}},
          open({str(report_file)!r}, "w"))
"""
        measured = run_measured(code, env)
        # what Airflow printed, kept beside the figures for reading
        shutil.copyfile(
            Path(env["SUKF_AIRFLOW_HOME"]) / "logs" / f"dags-test-{dag_id}.log",
            report_dir / f"{label}-{dag_id}.log",
        )
        measured.update(run_summary(json.loads(report_file.read_text())))
        runs[dag_id] = measured
        print(f"{label} {dag_id:10} {measured}", flush=True)
    runs["end_to_end_seconds"] = round(
        sum(runs[dag_id]["seconds"] for dag_id in ("su_intake", "su_feedback", "su_round")), 2
    )
    return runs


def run_summary(recorded: dict) -> dict:
    """A DAG run as Airflow recorded it ({"run_seconds", "tasks": [[task, map index,
    seconds]]}): the run's time, each task's duration (a mapped task's as count, sum and the
    slowest) and the time in no task."""
    durations: dict[str, list[float]] = {}
    for task_id, _, seconds in recorded["tasks"]:
        durations.setdefault(task_id, []).append(seconds or 0.0)
    return {
        "dag_run_seconds": round(recorded["run_seconds"], 2),
        "tasks": {
            task_id: {"seconds": round(seconds[0], 2)}
            if len(seconds) == 1
            else {
                "mapped": len(seconds),
                "sum_seconds": round(sum(seconds), 2),
                "max_seconds": round(max(seconds), 2),
            }
            for task_id, seconds in durations.items()
        },
        # the run's time in no task: starting each task, Airflow's bookkeeping between them
        "between_tasks_seconds": round(
            recorded["run_seconds"] - sum(s or 0.0 for _, _, s in recorded["tasks"]), 2
        ),
    }


# the kommun whose corrected upload is timed (as bench/history.py corrects it)
CORRECTING = "0380"


def correction_latency(env: dict[str, str], workdir: Path, cases: int) -> dict:
    """One kommun's corrected upload, written into its account folder of the inbox (as SFTPGo
    does once an upload is complete), through su_intake and su_feedback on the landed national
    round: the seconds from the upload to its feedback report in the account's download folder
    (the report's modification time); each DAG's `airflow dags test` process (wall time, and
    the part of it before and after Airflow's run: starting the CLI, parsing the DAG) with the
    run's tasks as Airflow recorded them. The DAGs are started at once, as the upload hook
    starts su_intake; `airflow dags test` starts a process per run. Each correction is a new
    file (its seed counts the kommun's files archived before), so it can be measured again on
    the same landed round (`--only correction`)."""
    from sukvinnofrid.synthetic import generate_round_files

    archived = len(list((Path(env["SUKF_ARCHIVE"]) / CORRECTING / ROUND).glob("*/*")))
    (corrected,) = generate_round_files(
        workdir / "correction",
        [CORRECTING],
        [ROUND],
        cases_per_kommun=cases,
        seed=2024 + archived,
    )
    folder = Path(env["SUKF_INBOX"]) / CORRECTING
    folder.mkdir(parents=True, exist_ok=True)
    report_file = workdir / "correction.json"
    uploaded = time.time()
    shutil.copyfile(corrected.path, folder / corrected.path.name)
    code = f"""
import json, time
from sukvinnofrid import airflow_local
times, runs = [time.time()], {{}}
for dag_id in ("su_intake", "su_feedback"):
    runs[dag_id] = airflow_local.run_dag(dag_id)
    times.append(time.time())
((written,),) = runs["su_feedback"].results("write_feedback")
json.dump({{"times": times, "written": written,
           "runs": {{dag_id: {{"run_seconds": report.seconds,
                             "tasks": [[t.task_id, t.map_index, t.seconds] for t in report.tasks]}}
                    for dag_id, report in runs.items()}}}}, open({str(report_file)!r}, "w"))
"""
    measured = run_measured(code, env)
    recorded = json.loads(report_file.read_text())
    written = recorded["written"]
    download = (
        Path(env["SUKF_FEEDBACK_DOWNLOAD"])
        / written["account"]
        / ROUND
        / Path(written["download"]).name
    )
    times = recorded["times"]
    runs = {}
    for dag_id, began, ended in zip(
        ("su_intake", "su_feedback"), times[:-1], times[1:], strict=True
    ):
        runs[dag_id] = {"seconds": round(ended - began, 2)} | run_summary(recorded["runs"][dag_id])
        # the process's time outside Airflow's run: starting the CLI, parsing the DAG, ending
        runs[dag_id]["outside_run_seconds"] = round(
            ended - began - runs[dag_id]["dag_run_seconds"], 2
        )
    return {
        "kommun": CORRECTING,
        "rows": corrected.rows,
        "account": written["account"],
        "upload_to_download_folder_seconds": round(download.stat().st_mtime - uploaded, 2),
        # from the upload to the first DAG's start: the benchmark's process starting Python
        "before_su_intake_seconds": round(times[0] - uploaded, 2),
        **runs,
        "both_processes": measured,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def airflow_environment(workdir: Path) -> dict[str, str]:
    """The Airflow path's environment: the benchmark's own under workdir, an AIRFLOW_HOME and
    the kommuner's download folders there too."""
    env = environment(workdir)
    env["SUKF_AIRFLOW_HOME"] = str(workdir / "airflow")
    env["SUKF_FEEDBACK_DOWNLOAD"] = str(workdir / "aterkoppling")
    env.pop("SUKF_REQUIRE_APPROVAL", None)  # no person to approve the publication
    return env


def airflow_path(workdir: Path, plan: dict[str, int] | None = None) -> dict:
    """The round in workdir/inbox through the real DAGs, in a warehouse and Airflow metadata DB
    of its own."""
    env = airflow_environment(workdir)
    load = os.getloadavg()
    # Set up once per installation, not per round: not counted.
    setup = run_measured(
        "from sukvinnofrid import airflow_local, warehouse; warehouse.ensure_schema(); "
        "airflow_local.ensure_metadata_db(airflow_local.airflow_environment())",
        env,
    )
    print(f"airflow metadata DB and warehouse schema {setup} (not counted)", flush=True)
    result = {
        "setup_not_counted": setup,
        "load_average_before": [round(x, 2) for x in load],
        "national_round": dag_runs(env, workdir, "national"),
    }
    result["rerun_no_new_uploads"] = dag_runs(env, workdir, "rerun")
    if plan is not None:
        result["correction"] = correction_latency(env, workdir, plan[CORRECTING])
        print(f"a corrected upload: {result['correction']}", flush=True)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    stop_warehouse(env)
    return result


def floor(env: dict[str, str], files: list[Path]) -> dict:
    """COPY every row into one untyped table and count aktualiserade per kommun and year."""
    code = f"""
import time, json
from sukvinnofrid import warehouse
from sukvinnofrid.readers import open_upload
from sukvinnofrid.catalogue import load_catalogue
import csv, io, tempfile
columns = load_catalogue().column_names
engine = warehouse.engine()
files = {[str(f) for f in files]!r}
with engine.begin() as conn:
    conn.exec_driver_sql("DROP TABLE IF EXISTS public.bench_floor")
    column_list = ", ".join(f'"{{c}}" text' for c in columns)
    conn.exec_driver_sql(f"CREATE UNLOGGED TABLE public.bench_floor ({{column_list}})")
started = time.perf_counter()
with engine.begin() as conn:
    cursor = conn.connection.dbapi_connection.cursor()
    for path in files:
        upload = open_upload(__import__('pathlib').Path(path))
        spool = tempfile.TemporaryFile('w+', newline='')
        writer = csv.writer(spool)
        for _, record in upload.rows():
            writer.writerow([record.get(c, '') for c in columns])
        spool.seek(0)
        cursor.copy_expert('COPY public.bench_floor FROM STDIN WITH (FORMAT csv)', spool)
    rows = conn.exec_driver_sql("SELECT v2_kommun, substr(v5_datum_aktualisering, 1, 4), count(*) "
                                "FROM public.bench_floor GROUP BY 1, 2").all()
with engine.begin() as conn:
    conn.exec_driver_sql("DROP TABLE public.bench_floor")
print(json.dumps({{"groups": len(rows)}}))
"""
    return run_measured(code, env)


GATE_STEP = re.compile(
    r"^(protection|audit|widening) (\d+): (?:(\d+) withheld, (\d+) found, |(\d+) cells for "
    r"(\d+) counts, )?([\d.]+) s$"
)
GATE_FINDINGS = re.compile(
    r"^audit \d+ findings: (\d+) published as worked out, (\d+) found the first time, "
    r"(\d+) found again$"
)


def gate_steps(lines: list[str]) -> list[dict]:
    """The gate's passes from its log lines (`statistics.protect_round`'s wording):
    protection, audit (cells withheld and found, and how the findings were taken) and widening
    (cells for counts), each with its seconds, and each next attempt of protect_round."""
    steps: list[dict] = []
    for line in lines:
        step, findings = GATE_STEP.match(line), GATE_FINDINGS.match(line)
        if "Skyddas igen" in line:  # protect_round's next attempt
            again = "single further cells" if "enstaka" in line else "Kolada withholdable"
            steps.append({"step": f"again, {again}", "seconds": 0.0})
        elif findings:  # of the audit step just before
            published, first, again = map(int, findings.groups())
            steps[-1] |= {"published_as_worked_out": published, "first": first, "again": again}
        elif step:
            kind, number, withheld, found, cells, counts, seconds = step.groups()
            steps.append(
                {"step": f"{kind} {number}", "seconds": float(seconds)}
                | ({"withheld": int(withheld), "found": int(found)} if withheld else {})
                | ({"cells": int(cells), "for_counts": int(counts)} if cells else {})
            )
    return steps


def publication_gate(workdir: Path, kommuner: list[str], plan: dict[str, int]) -> dict:
    """The national round's publication (`pipeline.publish`), whose disclosure gate
    (`statistics.protect_round`) logs every pass: the protection's time, then the audit's with
    the cells withheld and the cells it found. The round is landed, gated and built first (not
    counted). A publication the gate refuses is measured too (exit code 1)."""
    env = environment(workdir)
    generate(workdir, kommuner, plan)
    run_stages(env, names=("intake", "quality_gate", "dbt_build"))
    log_file = workdir / "publication.log"
    code = (
        f"import logging; logging.basicConfig(filename={str(log_file)!r}, level=logging.INFO, "
        "format='%(message)s'); " + stage_code("publication", ROUND)
    )
    result = run_measured(code, env, check=False)
    stop_warehouse(env)
    steps = gate_steps(log_file.read_text(encoding="utf-8").splitlines())
    result["published"] = result.pop("exit_code") == 0
    result["gate"] = steps
    result["gate_seconds"] = round(sum(s["seconds"] for s in steps), 1)
    return result


def environment(workdir: Path) -> dict[str, str]:
    """A warehouse, inbox, archive and output of the benchmark's own under `workdir`."""
    env = dict(
        os.environ,
        SUKF_HOME=str(ROOT),
        SUKF_PGDATA=str(workdir / "pgdata"),
        SUKF_INBOX=str(workdir / "inbox"),
        SUKF_ARCHIVE=str(workdir / "archive"),
        SUKF_OUTPUT=str(workdir / "output"),
        # the shipped population seeds are approximations: published as preliminary
        SUKF_ALLOW_APPROXIMATE_POPULATION="1",
        SUKF_PSEUDONYM_KEY=os.environ.get("SUKF_PSEUDONYM_KEY", "benchmark-key"),
    )
    env.pop("SUKF_WAREHOUSE_URL", None)
    return env


def generate(
    workdir: Path, kommuner: list[str], plan: dict[str, int], rounds: tuple[str, ...] = (ROUND,)
) -> list:
    """The uploads of the last of `rounds` in workdir/inbox (earlier rounds are generated
    aside: each upload is a cumulative extract of the kommun's cases)."""
    from sukvinnofrid.synthetic import generate_round_files

    started = time.perf_counter()
    generated = generate_round_files(
        workdir / "generated",
        kommuner,
        list(rounds),
        cases_per_kommun={k: plan[k] for k in kommuner},
        seed=2024,
    )
    files = [f for f in generated if f.round_id == rounds[-1]]
    put_in_inbox(files, workdir)
    print(
        f"generated {len(files)} files of round {rounds[-1]}, {sum(f.rows for f in files)} rows "
        f"in {time.perf_counter() - started:.1f} s (not counted)",
        flush=True,
    )
    return files


def put_in_inbox(files: list, workdir: Path) -> None:
    (workdir / "inbox").mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f.path, workdir / "inbox" / f.path.name)


def run_stages(
    env: dict[str, str], round_id: str = ROUND, names: tuple[str, ...] = STAGE_NAMES
) -> dict[str, dict]:
    run_measured("from sukvinnofrid import warehouse; warehouse.ensure_schema()", env)
    stages = {}
    for name in names:
        stages[name] = run_measured(stage_code(name, round_id), env)
        print(f"{name:14} {stages[name]}", flush=True)
    return stages


def site_digest(site: Path) -> dict[str, str]:
    """Every file of a rendered site with its sha256 and modification time (unchanged data
    rewrites nothing)."""
    import hashlib

    return {
        str(p.relative_to(site)): f"{hashlib.sha256(p.read_bytes()).hexdigest()} "
        f"{p.stat().st_mtime_ns}"
        for p in sorted(site.rglob("*"))
        if p.is_file()
    }


def stop_warehouse(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-c", "from sukvinnofrid import warehouse; warehouse.stop_embedded()"],
        env=env,
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--only",
        choices=["airflow", "correction", "gate"],
        default=None,
        help="only the Airflow path, only the corrected upload on the Airflow path that an "
        "earlier run left in --workdir, or only the publication's gate; put into the existing "
        "results file",
    )
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sukf-bench-"))
    sys.path.insert(0, str(ROOT / "src"))
    from sukvinnofrid import reference
    from sukvinnofrid.synthetic import national_round_plan

    # Stockholm and Göteborg report by stadsdel, every other kommun as itself
    by_stadsdel = {s.kommun_kod for s in reference.stadsdelar().values()}
    kommuner = sorted(
        [k for k in reference.kommuner() if k not in by_stadsdel] + list(reference.stadsdelar())
    )
    plan = national_round_plan(args.cases, kommuner, seed=2024)
    if args.only == "correction":
        if args.workdir is None:
            parser.error("--only correction needs the --workdir of an earlier Airflow path")
        env = airflow_environment(workdir / "airflow_path")
        results = json.loads(args.out.read_text())
        # the warehouse is up, as in production and in the whole Airflow path: not counted
        run_measured("from sukvinnofrid import warehouse; warehouse.ensure_schema()", env)
        correction = correction_latency(env, workdir / "airflow_path", plan[CORRECTING])
        stop_warehouse(env)
        results["airflow_path"]["correction"] = correction
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"a corrected upload: {correction}; written to {args.out}")
        return 0
    if args.only == "gate":
        results = json.loads(args.out.read_text()) if args.out.exists() else {}
        results["publication_gate"] = publication_gate(workdir / "gate", kommuner, plan)
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"the publication's gate: {results['publication_gate']}; written to {args.out}")
        return 0
    if args.only == "airflow":
        generate(workdir / "airflow_path", kommuner, plan)
        results = json.loads(args.out.read_text()) if args.out.exists() else {}
        results["airflow_path"] = airflow_path(workdir / "airflow_path", plan)
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        dags = results["airflow_path"]["national_round"]
        print(f"through Airflow: end to end {dags['end_to_end_seconds']} s; written to {args.out}")
        return 0
    env = environment(workdir / "national")
    files = generate(workdir / "national", kommuner, plan)
    put_in_inbox(files, workdir / "airflow_path")  # the same round, for the Airflow path below
    rows = sum(f.rows for f in files)
    results: dict = {
        "kommuner": len(files),
        "rows": rows,
        "round": ROUND,
        "stages": run_stages(env),
    }
    end_to_end = round(sum(s["seconds"] for s in results["stages"].values()), 2)
    results["end_to_end_seconds"] = end_to_end
    results["floor"] = floor(env, [f.path for f in files])
    results["ratio_end_to_end_to_floor"] = round(end_to_end / results["floor"]["seconds"], 2)
    print(f"floor          {results['floor']}", flush=True)

    site = Path(env["SUKF_OUTPUT"]) / "rapport" / ROUND
    first_site = site_digest(site)
    rerun = {name: run_measured(stage_code(name, ROUND), env) for name in STAGE_NAMES}
    results["report_pages"] = sum(1 for _ in site.rglob("*.html"))
    results["report_rerun_byte_identical"] = site_digest(site) == first_site
    results["rerun_no_new_uploads"] = rerun
    results["rerun_seconds"] = round(sum(s["seconds"] for s in rerun.values()), 2)

    # The next round arrives (every kommun again, cumulative extracts): the incremental models
    # build only the new round's periods (and the calendar years), not the first round again.
    print(f"the next round, {NEXT_ROUND}, on top of {ROUND}:", flush=True)
    generate(workdir / "national", kommuner, plan, rounds=(ROUND, NEXT_ROUND))
    results["next_round"] = run_stages(env, NEXT_ROUND)
    results["next_round"]["end_to_end_seconds"] = round(
        sum(s["seconds"] for s in results["next_round"].values()), 2
    )
    stop_warehouse(env)

    print("the national round through the real DAGs (Airflow):", flush=True)
    results["airflow_path"] = airflow_path(workdir / "airflow_path", plan)

    # Memory against the number of files: every tenth kommun, the same cases per kommun.
    print("a tenth of the files, for peak memory against the number of files:", flush=True)
    tenth_env = environment(workdir / "tenth")
    tenth_files = generate(workdir / "tenth", kommuner[::10], plan)
    tenth = run_stages(tenth_env)
    stop_warehouse(tenth_env)
    results["peak_rss_mib_by_files"] = {
        name: {
            len(tenth_files): tenth[name]["peak_rss_mib"],
            len(files): results["stages"][name]["peak_rss_mib"],
        }
        for name in STAGE_NAMES
    }

    results["machine"] = {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30),
    }
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(
        f"end to end {end_to_end} s, floor {results['floor']['seconds']} s, "
        f"ratio {results['ratio_end_to_end_to_floor']}, re-run {results['rerun_seconds']} s"
    )
    print(f"peak memory (MiB) by number of files: {results['peak_rss_mib_by_files']}")
    dags = results["airflow_path"]["national_round"]
    print(f"through Airflow: end to end {dags['end_to_end_seconds']} s")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
