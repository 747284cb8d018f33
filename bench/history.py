"""Benchmark: ten rounds landed one after another, then one kommun's corrected upload.

Usage: .venv/bin/python bench/history.py [--cases 100000] [--rounds 10] [--out bench/history.json]

Every round is a national round like bench/national_round.py's (every kommun, Stockholm and
Göteborg by stadsdel, the same cases per unit), and every file holds the year of cases before
its round's close (a rolling extract), so the rows per round stay the same and only the history
in the warehouse grows: the tenth round should cost what the first did (target: at most 1.2x,
peak memory flat). Each stage runs in its own process (national_round.run_measured).

Then one kommun corrects its upload of the last round (1 % of its cases fewer): the seconds from the
start of intake until its feedback report exists (intake + quality gate) and until the Kolada
files are republished (+ dbt build + publication).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from national_round import ROOT, STAGE_NAMES, environment, run_measured, stage_code, stop_warehouse

CORRECTING = "0380"  # Uppsala: a large kommun reporting as itself


def rounds_from(first: str, count: int) -> list[str]:
    """Half-yearly rounds (June, December) from `first` ('ÅÅÅÅ-06' or 'ÅÅÅÅ-12')."""
    year, month = int(first[:4]), int(first[5:])
    found = []
    for _ in range(count):
        found.append(f"{year}-{month:02d}")
        year, month = (year, 12) if month == 6 else (year + 1, 6)
    return found


def generate_round(
    workdir: Path, units: list[str], plan: dict[str, int], round_id: str, seed: int
) -> list:
    """The round's files in workdir/inbox: each unit's cases aktualiserade in the year before
    the round's close."""
    from sukvinnofrid.rounds import round_close
    from sukvinnofrid.synthetic import generate_round_files

    generated = generate_round_files(
        workdir / "generated" / round_id,
        units,
        [round_id],
        cases_per_kommun=plan,
        seed=seed,
        since=round_close(round_id) - dt.timedelta(days=364),
    )
    (workdir / "inbox").mkdir(parents=True, exist_ok=True)
    for f in generated:
        shutil.copyfile(f.path, workdir / "inbox" / f.path.name)
    return generated


def run_round(env: dict[str, str], round_id: str) -> dict:
    stages = {name: run_measured(stage_code(name, round_id), env) for name in STAGE_NAMES}
    return {
        "stages": stages,
        "seconds": round(sum(s["seconds"] for s in stages.values()), 2),
        "peak_rss_mib": max(s["peak_rss_mib"] for s in stages.values()),
    }


def correct(workdir: Path, env: dict[str, str], round_id: str) -> dict:
    """A corrected upload of CORRECTING in `round_id`: its file again with 1 % of its cases
    (at least one) taken out."""
    original = workdir / "generated" / round_id / f"sukf_{CORRECTING}_{round_id}.csv"
    with original.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    corrected = workdir / "inbox" / f"sukf_{CORRECTING}_{round_id}_rattelse.csv"
    with corrected.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows[: -max(1, (len(rows) - 1) // 100)])
    started = time.perf_counter()
    stages = {}
    for name in ("intake", "quality_gate", "dbt_build", "publication"):
        stages[name] = run_measured(stage_code(name, round_id), env)
    elapsed = [s["seconds"] for s in stages.values()]
    return {
        "unit": CORRECTING,
        "rows": len(rows) - 1 - max(1, (len(rows) - 1) // 100),
        "stages": stages,
        "feedback_after_seconds": round(sum(elapsed[:2]), 2),
        "kolada_after_seconds": round(sum(elapsed), 2),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=10)
    # the shipped population seeds cover 2021-2025: ten rounds 2021-12 .. 2026-06
    parser.add_argument("--first", default="2021-12")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "history.json")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sukf-history-"))
    sys.path.insert(0, str(ROOT / "src"))
    from sukvinnofrid import reference
    from sukvinnofrid.synthetic import national_round_plan

    by_stadsdel = {s.kommun_kod for s in reference.stadsdelar().values()}
    units = sorted(
        [k for k in reference.kommuner() if k not in by_stadsdel] + list(reference.stadsdelar())
    )
    plan = national_round_plan(args.cases, units, seed=2024)
    env = environment(workdir)
    # every round must have closed before publication: the benchmark's rounds lie in the past
    run_measured("from sukvinnofrid import warehouse; warehouse.ensure_schema()", env)

    results: dict = {"units": len(units), "cases_per_round": sum(plan.values()), "rounds": []}
    for number, round_id in enumerate(rounds_from(args.first, args.rounds), start=1):
        files = generate_round(workdir, units, plan, round_id, seed=2024 + number)
        measured = run_round(env, round_id)
        measured.update(round=round_id, rows=sum(f.rows for f in files))
        results["rounds"].append(measured)
        print(
            f"round {number:2} {round_id}: {measured['rows']} rows, {measured['seconds']} s, "
            f"peak {measured['peak_rss_mib']} MiB "
            f"{ {k: v['seconds'] for k, v in measured['stages'].items()} }",
            flush=True,
        )
    first, last = results["rounds"][0], results["rounds"][-1]
    results["last_to_first_seconds"] = round(last["seconds"] / first["seconds"], 2)
    results["last_to_first_peak_rss"] = round(last["peak_rss_mib"] / first["peak_rss_mib"], 2)

    results["correction"] = correct(workdir, env, last["round"])
    print(
        f"correction of {CORRECTING} in {last['round']}: feedback after "
        f"{results['correction']['feedback_after_seconds']} s, Kolada after "
        f"{results['correction']['kolada_after_seconds']} s",
        flush=True,
    )
    stop_warehouse(env)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(
        f"tenth/first: {results['last_to_first_seconds']}x time, "
        f"{results['last_to_first_peak_rss']}x peak memory; written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
