"""Command line: `sukvinnofrid <command>`; `sukvinnofrid --help` lists them."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .config import get_settings

# Kommuner from the report's Bilaga 1, with the upload formats they might send.
DEMO_KOMMUNER = {
    "0126": "xlsx",                   # Huddinge
    "0380": "csv-semicolon-utf8",     # Uppsala
    "0480": "csv-semicolon-utf8",     # Nyköping
    "0580": "csv-comma-utf8-bom",     # Linköping
    "0586": "csv-semicolon-cp1252",   # Mjölby
    "0781": "csv-semicolon-utf8",     # Ljungby
    "0880": "csv-semicolon-cp1252",   # Kalmar
    "1287": "csv-semicolon-utf8",     # Trelleborg
    "1784": "xlsx",                   # Arvika
    "1984": "csv-semicolon-utf8",     # Arboga
    "2380": "csv-comma-utf8-bom",     # Östersund
    "2582": "csv-semicolon-utf8",     # Boden
}
# A December round: Kolada publishes complete calendar years only.
DEMO_ROUND = "2023-12"


def generate_demo(inbox: Path, round_id: str, cases_per_kommun: int, seed: int) -> list[Path]:
    from .synthetic import generate_round_files

    inbox.mkdir(parents=True, exist_ok=True)
    files = generate_round_files(inbox, list(DEMO_KOMMUNER), [round_id],
                                 cases_per_kommun=cases_per_kommun, seed=seed,
                                 formats=DEMO_KOMMUNER)
    return [generated.path for generated in files]


def cmd_demo(args: argparse.Namespace) -> int:
    from . import airflow_local, pipeline, warehouse

    settings = get_settings()
    warehouse.ensure_schema()
    files = generate_demo(settings.inbox, args.round, args.cases, args.seed)
    print(f"Demo round {args.round}: {len(files)} uploads written to {settings.inbox}")
    if args.no_airflow:
        pipeline.run_round(args.round)
    else:
        print("Running DAG su_intake (airflow dags test) …", flush=True)
        airflow_local.test_dag("su_intake")
        print("Running DAG su_round (airflow dags test) …", flush=True)
        airflow_local.test_dag("su_round", {"round_id": args.round})
    _print_outputs(args.round)
    return 0


def _print_outputs(round_id: str) -> None:
    settings = get_settings()
    versions = sorted((settings.output / "kolada" / round_id).glob("v[0-9][0-9][0-9]"))
    publication = versions[-1] if versions else None
    print()
    print(f"Kolada files:      {publication}" if publication else "Kolada files:      (none published)")
    print(f"Quality reports:   {settings.output / 'aterkoppling'}")
    print(f"Data Docs:         {settings.output / 'data_docs'}")
    print(f"Warehouse:         {'external' if settings.warehouse_url else settings.embedded_pgdata}")


def cmd_generate(args: argparse.Namespace) -> int:
    from .synthetic import generate_round_files

    defects = {}
    for spec in args.defect or []:
        kommun, round_id, name = spec.split(":")
        defects.setdefault((kommun, round_id), []).append(name)
    files = generate_round_files(Path(args.out), args.kommuner, args.rounds,
                                 cases_per_kommun=args.cases, seed=args.seed, defects=defects)
    for generated in files:
        print(generated.path)
    return 0


def cmd_intake(args: argparse.Namespace) -> int:
    from . import intake, warehouse

    warehouse.ensure_schema()
    paths = [Path(p) for p in args.files] or intake.inbox_files()
    for path in paths:
        result = intake.land_upload(path)
        print(f"{result.status:10} {result.file_name}  rows={result.rows}  upload={result.upload_id}"
              + (f"\n           {result.message}" if result.message else ""))
    return 0


def cmd_gate(_: argparse.Namespace) -> int:
    from . import pipeline

    print(json.dumps(pipeline.quality_gate(), indent=1, default=str, ensure_ascii=False))
    return 0


def cmd_build(_: argparse.Namespace) -> int:
    from . import pipeline

    pipeline.build_warehouse()
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from . import pipeline

    print(json.dumps(pipeline.publish(args.round), indent=1, ensure_ascii=False))
    return 0


def cmd_run_round(args: argparse.Namespace) -> int:
    from . import pipeline

    print(json.dumps(pipeline.run_round(args.round), indent=1, default=str, ensure_ascii=False))
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sukvinnofrid", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="generate a demo round and run the whole chain")
    demo.add_argument("--round", default=DEMO_ROUND)
    demo.add_argument("--cases", type=int, default=80, help="cases per kommun")
    demo.add_argument("--seed", type=int, default=2023)
    demo.add_argument("--no-airflow", action="store_true", help="call the steps directly")
    demo.set_defaults(func=cmd_demo)

    generate = commands.add_parser("generate", help="write synthetic upload files")
    generate.add_argument("--out", required=True)
    generate.add_argument("--kommuner", nargs="+", required=True)
    generate.add_argument("--rounds", nargs="+", required=True)
    generate.add_argument("--cases", type=int, default=60)
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("--defect", action="append", metavar="KOMMUN:ROUND:NAME")
    generate.set_defaults(func=cmd_generate)

    intake = commands.add_parser("intake", help="land upload files (default: the inbox)")
    intake.add_argument("files", nargs="*")
    intake.set_defaults(func=cmd_intake)

    commands.add_parser("gate", help="run the quality gate on landed uploads").set_defaults(func=cmd_gate)
    commands.add_parser("build", help="dbt build the warehouse models").set_defaults(func=cmd_build)

    publish = commands.add_parser("publish", help="write the Kolada files of a round")
    publish.add_argument("--round")
    publish.set_defaults(func=cmd_publish)

    run_round = commands.add_parser("run-round", help="intake, gate, build, publish without Airflow")
    run_round.add_argument("--round")
    run_round.set_defaults(func=cmd_run_round)

    commands.add_parser("generate-artifacts",
                        help="regenerate templates, docs, seeds and suites from the catalogue"
                        ).set_defaults(func=cmd_generate_artifacts)

    refresh = commands.add_parser("refresh-population", help="fetch adult population from SCB")
    refresh.add_argument("--years", type=int, nargs="+", help="default: the years in the seed")
    refresh.set_defaults(func=cmd_refresh_population)

    wh = commands.add_parser("warehouse", help="create the schema or the stage roles, show the URL, "
                             "stop the embedded server")
    wh.add_argument("action", choices=["init", "roles", "url", "stop"])
    wh.set_defaults(func=cmd_warehouse)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
