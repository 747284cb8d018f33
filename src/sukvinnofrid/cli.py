"""SU-Kvinnofrid: insamling, kvalitetskontroll och Kolada-publicering.

Command line (`sukvinnofrid <kommando>`); its messages are Swedish, as the statistics team runs
it. A mistake in the command line or its inputs ends with one line on stderr and exit code 2; a
step that fails (warehouse unreachable, dbt, publication, a DAG run) ends with one line and exit
code 1 (`-v` shows the details). Long runs show their progress on stderr and end with a summary
table; `--json` prints the full result for machines instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .config import get_settings
from .formats import swedish_int, swedish_number

# Kommuner from the report's Bilaga 1, with the upload formats they might send.
DEMO_KOMMUNER = {
    "0126": "xlsx",  # Huddinge
    "0380": "csv-semicolon-utf8",  # Uppsala
    "0480": "csv-semicolon-utf8",  # Nyköping
    "0580": "csv-comma-utf8-bom",  # Linköping
    "0586": "csv-semicolon-cp1252",  # Mjölby
    "0781": "csv-semicolon-utf8",  # Ljungby
    "0880": "csv-semicolon-cp1252",  # Kalmar
    "1287": "csv-semicolon-utf8",  # Trelleborg
    "1784": "xlsx",  # Arvika
    "1984": "csv-semicolon-utf8",  # Arboga
    "2380": "csv-comma-utf8-bom",  # Östersund
    "2582": "csv-semicolon-utf8",  # Boden
}
# A December round: Kolada publishes complete calendar years only.
DEMO_ROUND = "2023-12"

EXIT_FAILED = 1  # a step failed
EXIT_USAGE = 2  # the command line or its inputs are wrong
LISTED_AT_MOST = 20  # blocked files listed under a summary table


class UserError(Exception):
    """A mistake in the command line or its inputs; the message is one Swedish line."""


# --- argument parsing, in Swedish ----------------------------------------------------------------

# argparse's own messages (Python 3.11) and their Swedish form.
_ARGPARSE_MESSAGES = [
    (r"the following arguments are required: (.*)", "följande argument saknas: {0}"),
    (r"unrecognized arguments: (.*)", "okända argument: {0}"),
    (
        r"argument (\S+): invalid choice: (.*) \(choose from (.*)\)",
        "{0}: ogiltigt val {1} (välj bland {2})",
    ),
    (r"argument (\S+): expected one argument", "{0}: ett värde saknas"),
    (r"argument (\S+): expected at least one argument", "{0}: minst ett värde saknas"),
    (r"argument (\S+): not allowed with argument (.*)", "{0} går inte att kombinera med {1}"),
    (r"argument (\S+): ignored explicit argument (.*)", "{0}: tar inget värde ({1})"),
    (r"ambiguous option: (\S+) could match (.*)", "flaggan {0} är tvetydig: {1}"),
    (r"argument (\S+): (.*)", "{0}: {1}"),
]


def _swedish(message: str) -> str:
    for pattern, swedish in _ARGPARSE_MESSAGES:
        if match := re.fullmatch(pattern, message, flags=re.DOTALL):
            return swedish.format(*match.groups())
    return message


class _Formatter(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, prefix if prefix is not None else "användning: ")


class _Parser(argparse.ArgumentParser):
    """argparse in Swedish; a usage error raises UserError instead of exiting."""

    def __init__(self, *args, add_help: bool = True, **kwargs):
        super().__init__(*args, add_help=False, formatter_class=_Formatter, **kwargs)
        self._positionals.title = "argument"
        self._optionals.title = "flaggor"
        if add_help:
            self.add_argument("-h", "--help", action="help", help="visa den här hjälpen")

    def error(self, message: str):
        raise UserError(f"{_swedish(message)} (se {self.prog} --help)")


def _round_id(text: str) -> str:
    from .readers import ROUND_ID

    if not ROUND_ID.match(text):
        raise argparse.ArgumentTypeError(
            f"omgången {text!r} är inte på formen ÅÅÅÅ-MM med månad 01–12 (t.ex. 2023-12)"
        )
    return text


def _kommun(text: str) -> str:
    from .reference import reporting_unit_kommun

    if reporting_unit_kommun(text) is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} är ingen känd kommunkod (t.ex. 0180) eller stadsdelskod (t.ex. 0180-EAV)"
        )
    return text


def _positive(text: str) -> int:
    if not re.fullmatch(r"\s*\+?\d+\s*", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} är inte ett heltal större än 0")
    return int(text)


def _integer(text: str) -> int:
    if not re.fullmatch(r"\s*[-+]?\d+\s*", text):
        raise argparse.ArgumentTypeError(f"{text!r} är inte ett heltal")
    return int(text)


def _port(text: str) -> int:
    port = _positive(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} är inget portnummer (1–65535)")
    return port


def _defect(text: str) -> tuple[str, str, str]:
    from .synthetic import DEFECTS

    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(
            f"{text!r} ska vara KOMMUN:OMGÅNG:FEL, t.ex. 0580:2023-12:personnummer"
        )
    kommun, round_id, name = parts
    _kommun(kommun)
    _round_id(round_id)
    if name not in DEFECTS:
        raise argparse.ArgumentTypeError(
            f"okänt fel {name!r} i {text!r}; kända fel: {', '.join(sorted(DEFECTS))}"
        )
    return kommun, round_id, name


# --- progress and summaries -----------------------------------------------------------------------

_STAGES = {  # stage -> (label, what it counts: one, several)
    "intake": ("Mottagning", ("ny fil", "nya filer")),
    "quality_gate": ("Kvalitetskontroll", ("fil att kontrollera", "filer att kontrollera")),
    "dbt_build": ("dbt build", None),
    "publish": ("Kolada-publicering", None),
    "report": ("Webbplatsen", None),
}
_INTAKE_STATUS = {"landed": "mottagna", "blocked": "stoppade", "duplicate": "redan mottagna"}
_GATE_STATUS = {"accepted": "godkända", "blocked": "stoppade", "superseded": "ersatta"}


class Progress:
    """The pipeline's progress on stderr: a line as each stage starts, at every tenth of its
    files, and as it ends, with the time it took."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.started: dict[str, float] = {}
        self.finished: set[str] = set()

    def __call__(self, stage: str, done: int, total: int) -> None:
        label, unit = _STAGES[stage]
        if stage not in self.started:
            self.started[stage] = time.monotonic()
            self._line(
                f"{label}: {swedish_int(total)} {unit[total != 1]} …" if unit else f"{label} …"
            )
        if done >= total and stage not in self.finished:
            self.finished.add(stage)
            seconds = swedish_number(time.monotonic() - self.started[stage], 1)
            self._line(f"{label}: klart ({seconds} s)")
        elif unit and 0 < done < total and done * 10 // total > (done - 1) * 10 // total:
            self._line(f"{label}: {swedish_int(done)} av {swedish_int(total)}")

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Plain text columns: the first left-aligned, the numbers right-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in (header, *rows)
    ]


def _listed(lines: list[str]) -> list[str]:
    shown = lines[:LISTED_AT_MOST]
    if len(lines) > LISTED_AT_MOST:
        shown.append(f"  … och {swedish_int(len(lines) - LISTED_AT_MOST)} till (--json visar alla)")
    return shown


def _status_table(
    title: str, results: list[dict], statuses: dict[str, str], summed: dict[str, str]
) -> list[str]:
    """Files and the sums of `summed` (column -> result key) per status, and in total."""

    def counts(group: list[dict]) -> list[str]:
        return [
            swedish_int(len(group)),
            *(swedish_int(sum(r[key] for r in group)) for key in summed.values()),
        ]

    rows = [
        [word, *counts(group)]
        for status, word in statuses.items()
        if (group := [r for r in results if r["status"] == status])
    ]
    return _table([title, "filer", *summed], [*rows, ["totalt", *counts(results)]])


def intake_summary_lines(results: list[dict]) -> list[str]:
    """Files and rows per intake verdict, then the blocked files with their messages (which
    name the file)."""
    lines = _status_table("Mottagning", results, _INTAKE_STATUS, {"rader": "rows"})
    blocked = [f"  {r['message']}" for r in results if r["status"] == "blocked"]
    if blocked:
        lines += ["", "Stoppade vid mottagningen:", *_listed(blocked)]
    return lines


def gate_summary_lines(results: list[dict]) -> list[str]:
    """Files, rows, rejected, erroneous and warned rows per upload status after the gate, then
    the blocked uploads with their reasons."""
    lines = _status_table(
        "Kvalitetskontroll",
        results,
        _GATE_STATUS,
        {
            "rader": "rows_received",
            "avvisade": "rows_rejected",
            "med fel": "rows_with_errors",
            "varningar": "rows_warned",
        },
    )
    blocked = [
        f"  {r['kommun']} {r['round']} (uppladdning {r['upload_id']}): {r['reason']}"
        for r in results
        if r["outcome"] == "blocked"
    ]
    if blocked:
        lines += ["", "Stoppade i kvalitetskontrollen:", *_listed(blocked)]
    return lines


def _publication_lines(published: dict) -> list[str]:
    if published["round_id"] is None:
        return ["Ingen omgång har nått sin publiceringstid (omgångskalendern): inget publicerades."]
    return [
        f"Kolada-filer för {published['round_id']}: {published['directory']}"
        + (" (oförändrade sedan förra publiceringen)" if published["reused"] else "")
        + (" – PRELIMINÄRA (uppskattad befolkning)" if published.get("preliminary") else ""),
        f"Statistik:      {published['statistics_directory']}",
        *(
            [f"Revisionslogg:  {published['revision_log']}"]
            if published.get("revision_log")
            else []
        ),
    ]


def _site_lines(site: dict) -> list[str]:
    unchanged = "" if site["written"] else " (oförändrad)"
    return [
        f"Webbplats:      {site['index']}{unchanged}",
        f"Interna sidor:  {site['internal_index']}{unchanged}",
    ]


def _output_lines(published: dict | None = None, site: dict | None = None) -> list[str]:
    settings = get_settings()
    return [
        *(_publication_lines(published) if published else []),
        f"Återkoppling:   {settings.output / 'aterkoppling'}",
        f"Nedladdning:    {settings.feedback_download} (varje SFTP-kontos aterkoppling/)",
        f"Data Docs:      {settings.output / 'data_docs' / 'index.html'}",
        *(_site_lines(site) if site else []),
    ]


def _print(lines: list[str]) -> None:
    print("\n".join(lines))


def _print_json(value) -> None:
    print(json.dumps(value, indent=1, ensure_ascii=False))


@contextlib.contextmanager
def _quiet_dbt(args: argparse.Namespace):
    """dbt logs every node to stdout; without -v only its errors while this lasts (the summary
    says the rest). DBT_QUIET also reaches the dbt of `airflow dags test`, a child process."""
    if args.verbose or "DBT_QUIET" in os.environ:
        yield
        return
    os.environ["DBT_QUIET"] = "true"
    try:
        yield
    finally:
        del os.environ["DBT_QUIET"]


# --- commands -------------------------------------------------------------------------------------


def generate_demo(inbox: Path, round_id: str, cases_per_kommun: int, seed: int) -> list[Path]:
    """The demo round, each kommun's file (and sidecar) in its own folder of the inbox, as its
    SFTP account delivers it: the feedback then goes to that account's download folder too."""
    from .readers import sidecar_path
    from .synthetic import generate_round_files

    with tempfile.TemporaryDirectory() as generated_dir:
        files = generate_round_files(
            Path(generated_dir),
            list(DEMO_KOMMUNER),
            [round_id],
            cases_per_kommun=cases_per_kommun,
            seed=seed,
            formats=DEMO_KOMMUNER,
        )
        delivered = []
        for generated in files:
            folder = inbox / generated.kommun_kod
            folder.mkdir(parents=True, exist_ok=True)
            for path in (generated.path, sidecar_path(generated.path)):
                if path.exists():
                    shutil.copyfile(path, folder / path.name)
            delivered.append(folder / generated.path.name)
    return delivered


def cmd_demo(args: argparse.Namespace) -> int:
    from . import airflow_local, pipeline, warehouse

    # The demo publishes with the shipped population seeds, which are approximations: allowed
    # here (and in the DAG runs, which inherit the environment), the files marked preliminary.
    os.environ["SUKF_ALLOW_APPROXIMATE_POPULATION"] = "1"
    get_settings.cache_clear()
    settings = get_settings()
    warehouse.ensure_schema()
    files = generate_demo(settings.inbox, args.round, args.cases, args.seed)
    print(f"Demoomgång {args.round}: {len(files)} filer skrivna till {settings.inbox}")
    if args.no_airflow:
        with _quiet_dbt(args):
            result = pipeline.run_round(args.round, progress=Progress())
        landed, gated, published = result["landed"], result["gated"], result["published"]
        site = result["report"]
    else:
        print("DAG su_intake (airflow dags test) …", flush=True)
        intake_run = airflow_local.run_dag("su_intake")
        print("DAG su_feedback (airflow dags test) …", flush=True)
        feedback_run = airflow_local.run_dag("su_feedback")
        print("DAG su_round (airflow dags test) …", flush=True)
        with _quiet_dbt(args):
            round_run = airflow_local.run_dag("su_round", {"round_id": args.round})
        tasks = [*intake_run.tasks, *feedback_run.tasks, *round_run.tasks]
        skipped = sum(task.state == "skipped" for task in tasks)
        print(
            f"Alla uppgifter lyckades på första försöket ({len(tasks) - skipped} körda"
            + (f", {skipped} överhoppade: inga nya filer)." if skipped else ").")
        )
        landed = [v for verdicts in intake_run.results("land_uploads") for v in verdicts]
        (gated,) = feedback_run.results("quality_gate")
        (published,) = round_run.results("publish_kolada")
        (site,) = round_run.results("report")
    print()
    # the round's site last: it is where a newcomer starts
    _print(
        [
            *intake_summary_lines(landed),
            "",
            *gate_summary_lines(gated),
            "",
            *_output_lines(published),
            f"Lagret:         {'externt' if settings.warehouse_url else settings.embedded_pgdata}",
            *_site_lines(site),
        ]
    )
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .synthetic import generate_round_files

    if len(set(args.rounds)) != len(args.rounds) or args.rounds != sorted(args.rounds):
        raise UserError(
            f"--rounds ska stå i stigande ordning utan dubbletter: {' '.join(args.rounds)}"
        )
    if len(set(args.kommuner)) != len(args.kommuner):
        raise UserError(f"--kommuner har dubbletter: {' '.join(args.kommuner)}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} är en fil, inte en katalog")
    defects: dict[tuple[str, str], list[str]] = {}
    for kommun, round_id, name in args.defect or []:
        if kommun not in args.kommuner or round_id not in args.rounds:
            raise UserError(
                f"--defect {kommun}:{round_id}:{name} gäller ingen fil som skapas "
                "(kommunen ska finnas i --kommuner och omgången i --rounds)"
            )
        defects.setdefault((kommun, round_id), []).append(name)
    try:
        files = generate_round_files(
            out,
            args.kommuner,
            args.rounds,
            cases_per_kommun=args.cases,
            seed=args.seed,
            defects=defects,
        )
    except ValueError as problem:  # defects that cannot be combined in one file
        raise UserError(f"filerna kan inte skapas: {problem}") from problem
    for generated in files:
        print(generated.path)
    return 0


def cmd_intake(args: argparse.Namespace) -> int:
    from . import pipeline
    from .privacy import mask_personnummer

    paths = None
    if args.files:
        paths = [Path(name) for name in args.files]
        for path in paths:
            if not path.is_file():
                shown = mask_personnummer(str(path))
                raise UserError(
                    f"filen finns inte: {shown}" if not path.exists() else f"{shown} är ingen fil"
                )
    results = pipeline.land_new_files(Progress(), paths)
    if args.json:
        _print_json(results)
    else:
        _print(intake_summary_lines(results))
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from . import pipeline

    results = pipeline.quality_gate(Progress())
    if args.json:
        _print_json(results)
    else:
        _print([*gate_summary_lines(results), "", *_output_lines()])
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from . import pipeline

    progress = Progress()
    progress("dbt_build", 0, 1)
    with _quiet_dbt(args):
        built = pipeline.build_warehouse()
    progress("dbt_build", 1, 1)
    print("Lagret är byggt." if built else "Inget hade ändrats sedan förra bygget: inget byggdes.")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from . import pipeline

    published = pipeline.publish(args.round)
    if args.json:
        _print_json(published)
    else:
        _print(_publication_lines(published))
    return 0


def cmd_run_round(args: argparse.Namespace) -> int:
    from . import pipeline

    with _quiet_dbt(args):
        result = pipeline.run_round(args.round, progress=Progress())
    if args.json:
        _print_json(result)
    else:
        _print(
            [
                *intake_summary_lines(result["landed"]),
                "",
                *gate_summary_lines(result["gated"]),
                "",
                *_output_lines(result["published"], result["report"]),
            ]
        )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from . import pipeline
    from .report import RoundNotPublished

    try:
        site = pipeline.report(args.round)
    except RoundNotPublished as problem:
        raise UserError(str(problem)) from problem
    if args.json:
        _print_json(site)
    else:
        _print(
            [
                f"Webbplatsen för omgång {site['round_id']}: {site['pages']} sidor på "
                f"{swedish_number(site['seconds'], 1)} s"
                + ("" if site["written"] else " (oförändrad: inget skrevs)"),
                f"Öppna:          {site['index']}",
                f"Interna sidor:  {site['internal_index']}",
            ]
        )
    return 0


def _kolada_version(statistics_version: Path) -> Path | None:
    """The Kolada version published with a statistics version: of the same round, made of the
    same deliveries (the manifests' in_force), the latest such; None when there is none."""
    root = statistics_version.parent.parent.parent / "kolada" / statistics_version.parent.name
    try:
        in_force = json.loads((statistics_version / "manifest.json").read_bytes())["in_force"]
    except (OSError, ValueError, KeyError):
        return None
    for version in sorted(root.glob("v[0-9][0-9][0-9]"), reverse=True):
        try:
            if json.loads((version / "manifest.json").read_bytes()).get("in_force") == in_force:
                return version
        except (OSError, ValueError):
            continue
    return None


def cmd_audit(args: argparse.Namespace) -> int:
    from . import audit
    from .config import get_settings
    from .statistics import AUDITED_FILES, audit_with_kolada

    directory = Path(args.directory)
    kolada = Path(args.kolada) if args.kolada else _kolada_version(directory)
    min_count = get_settings().min_publish_count
    try:
        if kolada is None:
            files = {name: (directory / name).read_bytes() for name in AUDITED_FILES}
            result = audit.attack(audit.read_statistics(files), min_count)
        else:
            files = {
                name: (kolada / name).read_bytes()
                for name in (audit.KOLADA_FILE, audit.KOLADA_OU_FILE)
            }
            result = audit_with_kolada(directory, files, min_count)
    except (OSError, audit.AuditError) as problem:
        raise UserError(f"Kan inte granska {directory}: {problem}") from problem
    found = {"exakt": 0, "litet": 0}
    for finding in result.findings:
        found[finding.verdict] += 1
    summary = {
        "katalog": str(directory),
        "kolada": str(kolada) if kolada else None,
        "undanhallna_antal": result.withheld,
        "kan_raknas_fram_exakt": found["exakt"],
        "kan_ringas_in_till_1_4": found["litet"],
        "linjara_program": result.linear_programs,
        "celler": [
            {"cell": audit.describe(f.cell), "lagst": f.low, "hogst": f.high, "dom": f.verdict}
            for f in result.findings
        ],
    }
    if args.json:
        _print_json(summary)
    else:
        lines = [
            (
                f"Granskning av {directory}"
                + (f" med Kolada-filerna i {kolada}" if kolada else " (inga Kolada-filer)")
                + f": {result.withheld} undanhållna antal, "
                f"{found['exakt']} kan räknas fram exakt, {found['litet']} kan ringas in till "
                f"1–{get_settings().min_publish_count - 1}."
            )
        ]
        lines += [
            f"  {audit.describe(f.cell)}: {f.low}–{f.high}" for f in result.findings[: args.most]
        ]
        if len(result.findings) > args.most:
            lines.append(f"  … och {len(result.findings) - args.most} till (--json visar alla)")
        _print(lines)
    return 1 if result.findings else 0


def cmd_backup(args: argparse.Namespace) -> int:
    from . import backup

    result = backup.back_up(Path(args.directory))
    if args.json:
        _print_json(result)
        return 0
    directory = Path(result["directory"])
    lines = [f"Säkerhetskopia i {directory} ({swedish_number(result['seconds'], 1)} s):"]
    for label, name in (
        ("lagret (utan nyckeln)", backup.DUMP),
        ("mottagna filer", backup.ARCHIVE),
        ("publiceringar", backup.OUTPUT),
    ):
        megabytes = swedish_number(result["files"][name]["bytes"] / 1e6, 2)
        lines.append(f"  {label + ':':22} {name} ({megabytes} MB)")
    lines += [
        f"  {'manifest:':22} {backup.MANIFEST} (sha256 för varje fil)",
        f"Nyckeln för pseudonymisering: {directory / backup.KEY} (bara ägaren kan läsa den).",
        "Förvara den åtskild från resten av säkerhetskopian.",
    ]
    _print(lines)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from . import backup

    result = backup.restore(Path(args.directory), Path(args.key) if args.key else None)
    if args.json:
        _print_json(result)
        return 0
    made = f"gjord {result['created_at']} på {result['source']['host']}"
    seconds = swedish_number(result["seconds"], 1)
    _print(
        [
            f"Återställt från {result['directory']} ({made}) på {seconds} s:",
            f"  {'lagret:':22} {result['warehouse']}",
            f"  {'mottagna filer:':22} {result['archive']}",
            f"  {'publiceringar:':22} {result['output']}",
        ]
    )
    return 0


def cmd_generate_artifacts(_: argparse.Namespace) -> int:
    from .artifacts import write_artifacts

    for path in write_artifacts():
        print(path)
    return 0


def cmd_refresh_population(args: argparse.Namespace) -> int:
    from .reference import scb

    return scb.main(["--years", *map(str, args.years)] if args.years else [])


def cmd_warehouse(args: argparse.Namespace) -> int:
    from . import warehouse

    if args.action == "stop":
        warehouse.stop_embedded()
    elif args.action == "init":
        warehouse.ensure_schema()
    elif args.action == "roles":
        from . import roles

        print(", ".join(roles.ensure_roles(passwords=roles.passwords_from_env())))
    else:
        print(warehouse.warehouse_url().render_as_string(hide_password=True))
    return 0


def cmd_dbt(args: argparse.Namespace) -> int:
    from . import transform, warehouse

    if not args.dbt_args:
        raise UserError(
            "ange ett dbt-kommando, t.ex. sukvinnofrid dbt debug eller "
            "sukvinnofrid dbt ls --select marts"
        )
    # The embedded server is started (or restarted) here; an unreachable one is named.
    warehouse.ensure_available(warehouse.stage_url("transform"))
    transform.run_dbt(args.dbt_args)
    return 0


def cmd_airflow(args: argparse.Namespace) -> int:
    from . import airflow_local

    shown_host = "localhost" if args.host in ("127.0.0.1", "0.0.0.0") else args.host
    print(
        f"Airflow startar på http://{shown_host}:{args.port}/ (AIRFLOW_HOME "
        f"{airflow_local.airflow_environment()['AIRFLOW_HOME']}).\n"
        f"Logga in som admin; lösenordet skrivs ut vid första starten och står i "
        f"{airflow_local.admin_password_file()}. Avsluta med Ctrl-C.",
        flush=True,
    )
    airflow_local.standalone(args.host, args.port)
    return 0  # not reached: standalone replaces this process


# --- the parser and main --------------------------------------------------------------------------


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="skriv hela resultatet som JSON (för maskiner) i stället för tabellen",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sukvinnofrid", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="visa loggning och, när något misslyckas, alla detaljer",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, title="kommandon", metavar="KOMMANDO"
    )

    demo = commands.add_parser("demo", help="skapa en demoomgång och kör hela kedjan")
    demo.add_argument(
        "--round",
        type=_round_id,
        default=DEMO_ROUND,
        metavar="ÅÅÅÅ-MM",
        help="omgång ÅÅÅÅ-MM (standard: %(default)s)",
    )
    demo.add_argument(
        "--cases",
        type=_positive,
        default=80,
        metavar="ANTAL",
        help="ärenden per kommun (standard: %(default)s)",
    )
    demo.add_argument(
        "--seed",
        type=_integer,
        default=2023,
        metavar="FRÖ",
        help="slumpfrö för de syntetiska ärendena (standard: %(default)s)",
    )
    demo.add_argument(
        "--no-airflow",
        action="store_true",
        help="kör stegen direkt i stället för genom Airflow-DAG:arna",
    )
    demo.set_defaults(func=cmd_demo)

    generate = commands.add_parser("generate", help="skriv syntetiska uppladdningsfiler")
    generate.add_argument(
        "--out", required=True, metavar="KATALOG", help="katalog som filerna skrivs till"
    )
    generate.add_argument(
        "--kommuner",
        nargs="+",
        required=True,
        type=_kommun,
        metavar="KOMMUN",
        help="kommunkoder, t.ex. 0180 0580",
    )
    generate.add_argument(
        "--rounds",
        nargs="+",
        required=True,
        type=_round_id,
        metavar="ÅÅÅÅ-MM",
        help="omgångar i stigande ordning",
    )
    generate.add_argument(
        "--cases",
        type=_positive,
        default=60,
        metavar="ANTAL",
        help="ärenden per kommun över hela perioden (standard: %(default)s)",
    )
    generate.add_argument(
        "--seed", type=_integer, default=1, metavar="FRÖ", help="slumpfrö (standard: %(default)s)"
    )
    generate.add_argument(
        "--defect",
        action="append",
        type=_defect,
        metavar="KOMMUN:OMGÅNG:FEL",
        help="lägg in ett känt fel i en fil (kan upprepas); felen finns i "
        "sukvinnofrid.synthetic.DEFECTS",
    )
    generate.set_defaults(func=cmd_generate)

    intake = commands.add_parser("intake", help="ta emot uppladdningsfiler")
    intake.add_argument(
        "files", nargs="*", metavar="FIL", help="filer att ta emot (standard: nya filer i inkorgen)"
    )
    _json_flag(intake)
    intake.set_defaults(func=cmd_intake)

    gate = commands.add_parser("gate", help="kvalitetskontroll av mottagna filer, återkoppling")
    _json_flag(gate)
    gate.set_defaults(func=cmd_gate)

    commands.add_parser("build", help="dbt build av lagrets modeller").set_defaults(func=cmd_build)

    publish = commands.add_parser("publish", help="skriv Kolada-filerna för en omgång")
    publish.add_argument(
        "--round",
        type=_round_id,
        metavar="ÅÅÅÅ-MM",
        help="omgång ÅÅÅÅ-MM (standard: den senaste med godkända filer)",
    )
    _json_flag(publish)
    publish.set_defaults(func=cmd_publish)

    run_round = commands.add_parser(
        "run-round", help="mottagning, kvalitetskontroll, dbt och publicering utan Airflow"
    )
    run_round.add_argument(
        "--round",
        type=_round_id,
        metavar="ÅÅÅÅ-MM",
        help="omgång att publicera, ÅÅÅÅ-MM (standard: den senaste)",
    )
    _json_flag(run_round)
    run_round.set_defaults(func=cmd_run_round)

    report = commands.add_parser(
        "report",
        help="skriv omgångens webbplats: omgångskonsol, "
        "nationell rapport, kommun- och länssidor, granskning",
    )
    report.add_argument(
        "--round",
        type=_round_id,
        metavar="ÅÅÅÅ-MM",
        help="omgång ÅÅÅÅ-MM som är publicerad (standard: den senaste stängda)",
    )
    _json_flag(report)
    report.set_defaults(func=cmd_report)

    audit_release = commands.add_parser(
        "audit",
        help="angrip en publicerad statistikversion och dess Kolada-filer som en utomstående "
        "läsare: vilka "
        "undanhållna antal går att räkna fram eller ringa in till 1–4 (linjärprogrammering)",
    )
    audit_release.add_argument(
        "directory",
        metavar="KATALOG",
        help="en version av omgångens statistik, t.ex. output/statistik/2023-12/v001; "
        "granskas tillsammans med Kolada-versionen av samma leveranser "
        "(output/kolada/<omgång>/v<NNN>)",
    )
    audit_release.add_argument(
        "--kolada",
        metavar="KATALOG",
        help="Kolada-versionen att granska med (standard: den som publicerades av samma "
        "leveranser)",
    )
    audit_release.add_argument(
        "--most", type=int, default=20, metavar="N", help="visa högst N celler (standard 20)"
    )
    _json_flag(audit_release)
    audit_release.set_defaults(func=cmd_audit)

    backup = commands.add_parser(
        "backup",
        help="säkerhetskopiera lagret, de mottagna filerna och publiceringarna, och nyckeln "
        "för pseudonymisering i en fil för sig",
    )
    backup.add_argument(
        "directory", metavar="KATALOG", help="en ny (eller tom) katalog för säkerhetskopian"
    )
    _json_flag(backup)
    backup.set_defaults(func=cmd_backup)

    restore = commands.add_parser(
        "restore",
        help="återställ en säkerhetskopia till en ny installation (tomt lager), efter att "
        "varje fil har kontrollerats mot manifestet",
    )
    restore.add_argument("directory", metavar="KATALOG", help="säkerhetskopians katalog")
    restore.add_argument(
        "--key",
        metavar="FIL",
        help="nyckeln för pseudonymisering, om den förvaras åtskild "
        "(standard: KATALOG/pseudonym.key)",
    )
    _json_flag(restore)
    restore.set_defaults(func=cmd_restore)

    commands.add_parser(
        "generate-artifacts",
        help="skapa mallar, dokumentation, kodlistor och GX-sviter ur katalogen",
    ).set_defaults(func=cmd_generate_artifacts)

    refresh = commands.add_parser(
        "refresh-population", help="hämta befolkningen 18+ från SCB (kräver nätverk)"
    )
    refresh.add_argument(
        "--years",
        type=_integer,
        nargs="+",
        metavar="ÅR",
        help="år att hämta (standard: åren i seed-filen)",
    )
    refresh.set_defaults(func=cmd_refresh_population)

    wh = commands.add_parser(
        "warehouse",
        help="lagret: skapa schemat eller rollerna, visa adressen, stoppa den inbyggda servern",
    )
    wh.add_argument(
        "action",
        choices=["init", "roles", "url", "stop"],
        metavar="ÅTGÄRD",
        help="init: skapa schemat; roles: skapa stegens roller; url: visa adressen; "
        "stop: stoppa den inbyggda servern",
    )
    wh.set_defaults(func=cmd_warehouse)

    dbt = commands.add_parser(
        "dbt",
        add_help=False,
        help="kör dbt mot lagret: sukvinnofrid dbt <dbt-argument> "
        "(t.ex. debug, ls, build --select marts)",
    )
    dbt.add_argument(
        "dbt_args",
        nargs=argparse.REMAINDER,
        metavar="DBT-ARGUMENT",
        help="skickas vidare till dbt (sukvinnofrid dbt --help visar dbt:s hjälp)",
    )
    dbt.set_defaults(func=cmd_dbt)

    airflow = commands.add_parser(
        "airflow",
        help="starta Airflow lokalt med gränssnittet "
        "(api-server, scheduler, DAG-processor, triggerer)",
    )
    airflow.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADRESS",
        help="adress som gränssnittet lyssnar på (standard: %(default)s, bara den här datorn)",
    )
    airflow.add_argument(
        "--port",
        type=_port,
        default=8080,
        metavar="PORT",
        help="port för gränssnittet (standard: %(default)s)",
    )
    airflow.set_defaults(func=cmd_airflow)
    return parser


# A step that failed for a reason outside the command line: (module, exception class, prefix).
# Looked up in sys.modules: an exception of a module never imported cannot have been raised.
_STEP_FAILURES = [
    ("sukvinnofrid.warehouse", "WarehouseUnavailable", "lagret går inte att nå"),
    ("sukvinnofrid.transform", "DbtError", "dbt misslyckades"),
    ("sukvinnofrid.quality.gate", "GateError", "kvalitetskontrollen kunde inte avgöra alla filer"),
    ("sukvinnofrid.report.sources", "ReportError", "webbplatsen kunde inte skrivas"),
    ("sukvinnofrid.kolada.publish", "PublicationError", "publiceringen stoppades"),
    ("sukvinnofrid.airflow_local", "DagRunFailed", "Airflow-körningen misslyckades"),
    ("sukvinnofrid.backup", "RestoreRefused", "återställningen stoppades"),
    ("sukvinnofrid.backup", "BackupError", "säkerhetskopian"),
    ("sukvinnofrid.reference.scb", "ScbError", "SCB"),
]


def _step_failure(error: BaseException) -> str | None:
    for module, name, prefix in _STEP_FAILURES:
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(error, getattr(loaded, name)):
            first_line = next((line for line in str(error).splitlines() if line.strip()), "")
            return f"{prefix}: {first_line}"
    return None


def _configure_logging(verbose: bool) -> None:
    """-v: everything from INFO up. Otherwise the pipeline's own warnings and everyone's errors:
    the progress lines and the summary say the rest (GX and dbt are talkative)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if not verbose:
        handler.addFilter(
            lambda record: record.levelno >= logging.ERROR or record.name.startswith("sukvinnofrid")
        )
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    handler.setLevel(logging.INFO if verbose else logging.WARNING)


def _fail(message: str) -> None:
    print(f"sukvinnofrid: {' '.join(message.split())}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if args.command == "dbt":
            args.dbt_args = [*unknown, *args.dbt_args]
        elif unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except UserError as error:
        _fail(str(error))
        return EXIT_USAGE
    except SystemExit as done:  # --help was shown
        return int(done.code or 0)
    _configure_logging(args.verbose)
    try:
        return args.func(args)
    except UserError as error:
        _fail(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _fail("avbrutet")
        return 130
    except Exception as error:
        message = _step_failure(error)
        if message is None:
            raise
        if args.verbose:
            traceback.print_exc()
        _fail(message + ("" if args.verbose else " (kör med -v för detaljer)"))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
