"""The command line as the statistics team meets it: a wrong command line or input ends with one
Swedish line and exit code 2 (never a traceback), every option is explained, long runs show
progress and end with a summary table, `dbt` and `airflow` run with the project's settings."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import scalar
from local_servers import free_port
from sukvinnofrid import cli
from sukvinnofrid.reference import kommuner, reporting_unit_kommun
from sukvinnofrid.synthetic import DEFECTS, generate_round_files

SUKVINNOFRID = str(Path(sys.executable).with_name("sukvinnofrid"))
ROUND = "2023-12"
NBSP = "\u00a0"


def run(*argv: str) -> tuple[int, str, str]:
    """`sukvinnofrid <argv>` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def assert_usage_error(code: int, out: str, err: str, *expected: str) -> None:
    assert code == cli.EXIT_USAGE, (out, err)
    assert out == ""
    assert err.startswith("sukvinnofrid: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and "error:" not in err and "usage:" not in err
    for text in expected:
        assert text in err, err


def is_round_id(text: str) -> bool:
    """ÅÅÅÅ-MM with a real month, checked without the code's regular expression."""
    if len(text) != 7 or text[4] != "-" or not (text[:4] + text[5:]).isascii():
        return False
    year, month = text[:4], text[5:]
    return year.isdigit() and month.isdigit() and 1 <= int(month) <= 12


ROUND_LIKE = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}\Z"),  # months 00 and 13–99 among them
    st.from_regex(r"\A[0-9]{1,6}-[0-9]{1,3}\Z"),
    st.sampled_from(
        [
            "2023-13",
            "2023-00",
            "2023-1",
            "23-12",
            "2023/12",
            "2023-12 ",
            " 2023-12",
            "2023-12\n",
            "２０２３-１２",
            "2023–12",
            "-2023-12",
            "2023-12-01",
        ]
    ),
)


@settings(max_examples=150, deadline=None)
@given(text=ROUND_LIKE, command=st.sampled_from([["publish"], ["run-round"], ["demo"]]))
def test_a_round_id_that_is_not_a_month_is_refused_in_one_line(text, command):
    if is_round_id(text):
        return  # a real round: the command would run
    assert_usage_error(*run(*command, f"--round={text}"), "--round", "ÅÅÅÅ-MM")


@settings(max_examples=100, deadline=None)
@given(rounds=st.lists(ROUND_LIKE, min_size=1, max_size=3))
def test_generate_refuses_rounds_that_are_not_months(rounds, tmp_path_factory):
    if all(is_round_id(r) for r in rounds):
        return
    out = tmp_path_factory.mktemp("out")
    assert_usage_error(
        *run("generate", f"--out={out}", "--kommuner", "0580", *(f"--rounds={r}" for r in rounds)),
        "--rounds",
    )
    assert list(out.iterdir()) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    code=st.one_of(
        st.from_regex(r"\A[0-9]{4}\Z"),
        st.from_regex(r"\A[0-9]{4}-[A-Z]{2,4}\Z"),
        st.text(max_size=8),
    )
)
def test_generate_refuses_an_unknown_kommun(code, tmp_path_factory):
    if code in kommuner() or reporting_unit_kommun(code) is not None:
        return
    out = tmp_path_factory.mktemp("out")
    assert_usage_error(
        *run("generate", f"--out={out}", f"--kommuner={code}", "--rounds", ROUND),
        "--kommuner",
        "ingen känd kommunkod",
    )
    assert list(out.iterdir()) == []


@settings(max_examples=150, deadline=None)
@given(
    spec=st.one_of(
        st.text(max_size=30),
        st.lists(st.text(alphabet="0123456789-:abcz_", max_size=12), min_size=1, max_size=5).map(
            ":".join
        ),
        st.builds(lambda name: f"0580:{ROUND}:{name}", st.text(min_size=1, max_size=20)),
        st.builds(
            lambda kommun, name: f"{kommun}:{ROUND}:{name}",
            st.sampled_from(["0126", "2380", "9999"]),
            st.sampled_from(sorted(DEFECTS)),
        ),
    )
)
def test_a_bad_defect_spec_is_refused_in_one_line(spec, tmp_path_factory):
    parts = spec.split(":")
    if (
        parts[0] == "0580"
        and parts[1:2] == [ROUND]
        and parts[2:]
        and parts[2] in DEFECTS
        and len(parts) == 3
    ):
        return  # a good spec
    out = tmp_path_factory.mktemp("out")
    assert_usage_error(
        *run(
            "generate", f"--out={out}", "--kommuner", "0580", "--rounds", ROUND, f"--defect={spec}"
        ),
        "--defect",
    )
    assert list(out.iterdir()) == []


@settings(max_examples=100, deadline=None)
@given(
    value=st.one_of(
        st.text(max_size=8), st.integers(max_value=0).map(str), st.floats(allow_nan=True).map(str)
    ),
    option=st.sampled_from([("demo", "--cases"), ("generate", "--cases"), ("airflow", "--port")]),
)
@example(value="0\x1f", option=("demo", "--cases"))  # \s matches it, int() refuses it
@example(value="5\xa0", option=("demo", "--cases"))  # both take it: a positive integer
def test_a_count_or_port_that_is_not_a_positive_integer_is_refused(value, option):
    try:
        if re.fullmatch(r"\s*\+?[0-9]+\s*", value) and int(value) > 0:
            return
    except ValueError:  # int() strips less than \s matches ('\x1c'-'\x1f'): not a number
        pass
    command, flag = option
    extra = (
        ["--out=/nonexistent", "--kommuner", "0580", "--rounds", ROUND]
        if command == "generate"
        else []
    )
    assert_usage_error(*run(command, *extra, f"{flag}={value}"), flag)


@settings(max_examples=60, deadline=None)
@given(argv=st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=4))
def test_an_unknown_command_or_option_is_refused(argv):
    parser_commands = {
        "demo",
        "generate",
        "intake",
        "gate",
        "build",
        "publish",
        "run-round",
        "report",
        "generate-artifacts",
        "refresh-population",
        "warehouse",
        "dbt",
        "airflow",
        "-h",
        "--help",
        "-v",
        "--verbose",
    }
    if argv[0] in parser_commands or any(a.startswith(("--h", "--v", "-v", "-h")) for a in argv):
        return
    assert_usage_error(*run(*argv))


@pytest.mark.parametrize(
    "argv, expected",
    [
        ([], "KOMMANDO"),
        (["gate", "--force"], "okända argument: --force"),
        (["warehouse", "drop"], "ogiltigt val 'drop'"),
        (["generate", "--kommuner", "0580", "--rounds", ROUND], "följande argument saknas: --out"),
        (
            ["generate", "--out", "x", "--kommuner", "0580", "--rounds", "2023-12", "2023-06"],
            "stigande ordning",
        ),
        (["generate", "--out", "x", "--kommuner", "0580", "0580", "--rounds", ROUND], "dubbletter"),
        (
            [
                "generate",
                "--out",
                "x",
                "--kommuner",
                "0580",
                "--rounds",
                ROUND,
                "--defect",
                f"0126:{ROUND}:kon_invalid",
            ],
            "gäller ingen fil",
        ),
        (
            [
                "generate",
                "--out",
                "x",
                "--kommuner",
                "0580",
                "--rounds",
                ROUND,
                "--defect",
                f"0580:{ROUND}:empty_file",
                "--defect",
                f"0580:{ROUND}:kon_invalid",
            ],
            "filerna kan inte skapas",
        ),
        (["demo", "--cases"], "--cases: ett värde saknas"),
        (["dbt"], "ange ett dbt-kommando"),
    ],
)
def test_mistakes_on_the_command_line_give_one_swedish_line(argv, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_usage_error(*run(*argv), expected)


def test_generate_refuses_an_output_path_that_is_a_file(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    assert_usage_error(
        *run("generate", f"--out={target}", "--kommuner", "0580", "--rounds", ROUND), "är en fil"
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"),
        min_size=1,
        max_size=20,
    )
)
def test_intake_of_a_file_that_does_not_exist_names_it(name, tmp_path):
    missing = tmp_path / "saknas" / name
    assert_usage_error(*run("intake", str(missing)), "filen finns inte")


def test_intake_masks_a_personnummer_in_a_missing_file_name(tmp_path):
    code, out, err = run("intake", str(tmp_path / "sukf_0580_2023-12_19121212-1212.csv"))
    assert_usage_error(code, out, err, "filen finns inte", "ÅÅMMDD-XXXX")
    assert "19121212" not in err


def test_intake_of_a_directory_says_it_is_no_file(tmp_path):
    assert_usage_error(*run("intake", str(tmp_path)), "är ingen fil")


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["publish", "--round", "2023-13"], "--round"),
        (["generate", "--out", "x", "--kommuner", "0000", "--rounds", ROUND], "--kommuner"),
        (
            [
                "generate",
                "--out",
                "x",
                "--kommuner",
                "0580",
                "--rounds",
                ROUND,
                "--defect",
                "0580:x",
            ],
            "--defect",
        ),
        (["intake", "/nonexistent/sukf_0580_2023-12.csv"], "filen finns inte"),
        (["no-such-command"], "ogiltigt val"),
    ],
)
def test_as_a_program_a_mistake_exits_2_with_one_line_on_stderr(argv, expected, tmp_path):
    result = subprocess.run(
        [SUKVINNOFRID, *argv], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = [
        line
        for line in result.stderr.splitlines()
        if not line.startswith(("  return", "/"))  # platformdirs' runtime-dir warning
        and "RuntimeDirWarning" not in line
    ]
    assert len(lines) == 1 and lines[0].startswith("sukvinnofrid: ") and expected in lines[0], (
        result.stderr
    )


def _parsers(parser: argparse.ArgumentParser, name: str = "sukvinnofrid"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {command}")


def test_every_option_and_argument_has_help_text():
    for name, parser in _parsers(cli.build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                assert all(choice.help for choice in action._choices_actions), name
            else:
                assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)


@pytest.mark.parametrize(
    "command",
    [
        "demo",
        "generate",
        "intake",
        "gate",
        "build",
        "publish",
        "run-round",
        "report",
        "generate-artifacts",
        "refresh-population",
        "warehouse",
        "airflow",
    ],
)
def test_help_is_swedish_and_exits_0(command):
    code, out, err = run(command, "--help")
    assert code == 0 and err == ""
    assert out.startswith(f"användning: sukvinnofrid {command}") and "visa den här hjälpen" in out


def test_airflow_help_documents_the_port_and_host():
    code, out, _ = run("airflow", "--help")
    assert code == 0
    assert "--port PORT" in out and "standard: 8080" in out and "--host ADRESS" in out


@pytest.mark.parametrize("total", [0, 1, 7, 290, 12345])
def test_progress_is_a_line_per_stage_start_tenth_and_end(total):
    stream = io.StringIO()
    progress = cli.Progress(stream)
    for done in range(total + 1):
        progress("intake", done, total)
    progress("intake", total, total)  # reported twice: shown once
    lines = stream.getvalue().splitlines()
    unit = "ny fil" if total == 1 else "nya filer"
    assert lines[0] == f"Mottagning: {total:,} {unit} …".replace(",", NBSP)
    assert re.fullmatch(r"Mottagning: klart \(\d+,\d s\)", lines[-1])
    counters = lines[1:-1]
    assert len(counters) == min(max(total - 1, 0), 9)
    assert all(
        re.fullmatch(rf"Mottagning: [\d{NBSP}]+ av {total:,}".replace(",", NBSP), line)
        for line in counters
    )


# --- runs against the warehouse --------------------------------------------------------------


@pytest.mark.slow
def test_run_round_shows_progress_and_a_summary_table_and_json_on_request(clean_warehouse):
    inbox = Path(os.environ["SUKF_INBOX"])
    files = generate_round_files(
        inbox,
        ["0580", "2380", "0126"],
        [ROUND],
        cases_per_kommun=40,
        seed=21,
        defects={("0126", ROUND): ["wrong_kommun_in_rows"]},
    )
    rows = {f.kommun_kod: f.rows for f in files}
    code, out, err = run("run-round", "--round", ROUND)
    assert code == 0, err
    # Progress on stderr: each stage starts and ends, with its time.
    for line in (
        "Mottagning: 3 nya filer …",
        "Kvalitetskontroll: 2 filer att kontrollera …",
        "dbt build …",
        "Kolada-publicering …",
        "Webbplatsen …",
    ):
        assert line in err
    assert len(re.findall(r": klart \(\d+,\d s\)", err)) == 5
    # The summary on stdout: tables, not JSON, and not dbt's line per node.
    assert not out.lstrip().startswith(("{", "[")) and " START " not in out + err
    assert "DBT_QUIET" not in os.environ
    table = {
        line.split()[0]: line.split()[1:]
        for line in out.replace(NBSP, "").splitlines()
        if line.split()
    }
    good = rows["0580"] + rows["2380"]
    assert table["mottagna"] == ["2", str(good)] and table["stoppade"][0] == "1"
    rejected = scalar(clean_warehouse, "SELECT sum(rows_rejected) FROM quality.validation_runs")
    warned = scalar(clean_warehouse, "SELECT sum(rows_warned) FROM quality.validation_runs")
    assert table["godkända"][:2] == ["2", str(good)]
    assert table["godkända"][2] == str(rejected) and table["godkända"][4] == str(warned)
    assert "Stoppade vid mottagningen:\n  filen sukf_0126_2023-12.csv" in out
    assert f"Kolada-filer för {ROUND}: " in out and "Återkoppling:" in out and "Data Docs:" in out
    assert f"Webbplats:      {os.environ['SUKF_OUTPUT']}/rapport/{ROUND}/index.html" in out
    if good >= 1000:
        assert f"{good // 1000}{NBSP}" in out  # Swedish thousands

    # Nothing new: the JSON a machine reads says so.
    code, out, err = run("run-round", "--round", ROUND, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["landed"] == [] and result["gated"] == [] and result["published"]["reused"]
    code, out, _ = run("gate", "--json")
    assert (code, json.loads(out)) == (0, [])


@pytest.mark.slow
def test_intake_and_gate_print_tables_with_every_blocked_file(clean_warehouse):
    inbox = Path(os.environ["SUKF_INBOX"])
    files = generate_round_files(
        inbox,
        ["0580", "2380"],
        [ROUND],
        cases_per_kommun=30,
        seed=5,
        defects={("2380", ROUND): ["binary_junk"]},
    )
    code, out, err = run("intake", *(str(f.path) for f in files))
    assert code == 0, err
    assert "Mottagning: 2 nya filer …" in err
    assert [
        line.split()[:2]
        for line in out.splitlines()
        if line.startswith(("mottagna", "stoppade", "totalt"))
    ] == [["mottagna", "1"], ["stoppade", "1"], ["totalt", "2"]]
    assert "Stoppade vid mottagningen:\n  filen sukf_2380_2023-12.csv" in out
    code, out, err = run("intake", str(files[0].path), "--json")
    assert code == 0 and json.loads(out)[0]["status"] == "duplicate"
    # As a program: stderr holds the progress and nothing of what GX logs for itself.
    gate = subprocess.run([SUKVINNOFRID, "gate"], capture_output=True, text=True, timeout=600)
    assert gate.returncode == 0, gate.stderr
    assert re.search(r"^godkända\s+1\s", gate.stdout, flags=re.MULTILINE)
    assert "Data Docs:" in gate.stdout
    shown = [
        line
        for line in gate.stderr.splitlines()
        if "RuntimeDirWarning" not in line and not line.startswith("  return Path")
    ]
    assert shown[0] == "Kvalitetskontroll: 1 fil att kontrollera …", gate.stderr
    assert re.fullmatch(r"Kvalitetskontroll: klart \(\d+,\d s\)", shown[-1]), gate.stderr
    assert all(line.startswith("WARNING sukvinnofrid.") for line in shown[1:-1]), gate.stderr


@pytest.mark.slow
def test_dbt_runs_with_the_warehouse_connection_set(warehouse_engine, capfd):
    code, out, err = run("dbt", "debug")
    assert code == 0, err
    assert "All checks passed" in out + capfd.readouterr().out
    code, out, err = run("dbt", "ls", "--resource-type", "model", "--select", "staging")
    assert code == 0, err
    listed = out + capfd.readouterr().out
    assert "stg_raw__case_records" in listed and "fct_kolada_key_figures" not in listed


@pytest.mark.slow
def test_dbt_against_an_unreachable_warehouse_fails_in_one_line():
    env = {
        **os.environ,
        "SUKF_WAREHOUSE_URL": f"postgresql://nobody:x@127.0.0.1:{free_port()}/sukf",
    }
    result = subprocess.run(
        [SUKVINNOFRID, "dbt", "debug"], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == cli.EXIT_FAILED
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("sukvinnofrid: lagret går inte att nå: ") and "(kör med -v" in last
    assert "127.0.0.1:" in last and "Traceback" not in result.stderr


def _get(url: str, token: str | None = None):
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


@pytest.mark.slow
def test_sukvinnofrid_airflow_serves_the_ui_with_both_dags(tmp_path):
    port = free_port()
    home = tmp_path / "airflow"
    log = (tmp_path / "airflow.log").open("w")
    process = subprocess.Popen(
        [SUKVINNOFRID, "airflow", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "SUKF_AIRFLOW_HOME": str(home)},
    )
    base = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 240
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = json.loads(_get(f"{base}/api/v2/monitor/health")[1])
                if all(part["status"] == "healthy" for part in health.values()):
                    break
            except OSError:
                pass
            time.sleep(2)
        assert health and all(part["status"] == "healthy" for part in health.values()), (
            tmp_path / "airflow.log"
        ).read_text()[-3000:]
        password = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())[
            "admin"
        ]
        token_request = urllib.request.Request(
            f"{base}/auth/token",
            data=json.dumps({"username": "admin", "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(token_request, timeout=10) as response:
            token = json.loads(response.read())["access_token"]
        dags = json.loads(_get(f"{base}/api/v2/dags", token)[1])
        assert {dag["dag_id"] for dag in dags["dags"]} == {
            "su_intake",
            "su_feedback",
            "su_round",
            "su_retention",
            "su_reminders",
        }
        assert json.loads(_get(f"{base}/api/v2/importErrors", token)[1])["total_entries"] == 0
        assert _get(f"{base}/")[0] == 200  # the UI itself
    finally:
        os.killpg(process.pid, signal.SIGINT)  # standalone stops its components on Ctrl-C
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
    banner = (tmp_path / "airflow.log").read_text()
    assert (
        f"Airflow startar på http://localhost:{port}/" in banner and "Logga in som admin" in banner
    )
