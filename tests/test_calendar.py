"""The round calendar (sukvinnofrid.rounds) and publication on it.

Rules by hand: the default dates of a round not listed, the last delivery day's end in
Stockholm time (23:59 on time, midnight late) on both sides of daylight saving time, the
publication at 08:00 Stockholm time. Under Airflow, on one landed round: nothing is published
before its publication time; at the time it is published once, from the files received by its
last delivery day; a late file and a late correction make the revision v002 with its log
(revisionslogg.csv) of the cells that changed and why, and a run with nothing new publishes
nothing more.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import land_generated
from local_servers import SmtpSink, smtp_connection
from report_round import page_tables
from sukvinnofrid import airflow_local, intake, pipeline, reminders, rounds
from sukvinnofrid.revisions import LOG_FILE, LOG_HEADER
from sukvinnofrid.synthetic import generate_round_files

UTC = dt.UTC
ROUND = "2023-12"


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# the rules


def test_a_round_not_listed_follows_the_default_rule():
    # 2031-06: July is the holiday month, so deliveries run to the last weekday of August
    # (31 August 2031 is a Sunday); publication on the first weekday from 15 September (a Monday)
    june = rounds.calendar_round("2031-06")
    assert not june.listed
    assert (june.closes, june.opens) == (dt.date(2031, 6, 30), dt.date(2031, 7, 1))
    assert june.last_delivery_day == dt.date(2031, 8, 29)
    # 14 and 3 days before: Friday 15 August, Tuesday 26 August
    assert june.reminder_days == (dt.date(2031, 8, 15), dt.date(2031, 8, 26))
    assert june.publication == dt.datetime(2031, 9, 15, 8, 0, tzinfo=rounds.STOCKHOLM)
    assert june.revision_policy == "revise"
    # 2030-12: last weekday of January 2031 is Friday the 31st; 15 February 2031 is a Saturday
    december = rounds.calendar_round("2030-12")
    assert december.last_delivery_day == dt.date(2031, 1, 31)
    # 17 January is a Friday; 28 January a Tuesday
    assert december.reminder_days == (dt.date(2031, 1, 17), dt.date(2031, 1, 28))
    assert december.publication_date == dt.date(2031, 2, 17)


def test_the_shipped_calendar_holds_the_generated_rounds_in_order():
    listed = rounds.listed_rounds()
    for round_id in ("2022-12", "2023-06", "2023-12", "2024-06", "2024-12", "2025-06"):
        assert listed[round_id].listed
    dates = listed[ROUND]
    assert (dates.opens, dates.last_delivery_day, dates.publication_date) == (
        dt.date(2024, 1, 1),
        dt.date(2024, 1, 31),
        dt.date(2024, 2, 15),
    )
    assert dates.publication_time == dt.time(8, 0)


def test_a_file_at_23_59_on_the_last_day_is_on_time_and_one_at_midnight_is_late():
    winter = rounds.calendar_round(ROUND)  # last day 31 January 2024, UTC+1
    assert winter.on_time(dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=rounds.STOCKHOLM))
    assert winter.on_time(utc(2024, 1, 31, 22, 59, 59))
    assert not winter.on_time(utc(2024, 1, 31, 23, 0, 0))
    summer = rounds.calendar_round("2023-06")  # last day 31 August 2023, UTC+2
    assert summer.on_time(utc(2023, 8, 31, 21, 59, 59))
    assert not summer.on_time(utc(2023, 8, 31, 22, 0, 0))


def test_publication_is_at_08_00_stockholm_time_in_winter_and_in_summer():
    winter = rounds.calendar_round(ROUND)
    assert not winter.is_due(utc(2024, 2, 15, 6, 59, 59))
    assert winter.is_due(utc(2024, 2, 15, 7, 0, 0))
    summer = rounds.calendar_round("2024-06")  # 16 September 2024, UTC+2
    assert not summer.is_due(utc(2024, 9, 16, 5, 59, 59))
    assert summer.is_due(utc(2024, 9, 16, 6, 0, 0))


def test_dates_on_the_days_the_clocks_change(tmp_path):
    """A last delivery day on the night the clocks go back (27 October 2024, 25 hours) ends at
    midnight after it; a publication on the morning they go forward (30 March 2025) is at
    08:00 summer time."""
    calendar = tmp_path / "rounds.yaml"
    calendar.write_text(
        "rounds:\n"
        '  "2024-09":\n'
        "    opens: 2024-10-01\n"
        "    last_delivery_day: 2024-10-27\n"
        "    reminder_days: [2024-10-20]\n"
        "    publication: 2025-03-30\n"
        '    publication_time: "08:00"\n'
        "    revision_policy: frozen\n",
        encoding="utf-8",
    )
    dates = rounds.listed_rounds(calendar)["2024-09"]
    assert dates.delivery_end == utc(2024, 10, 27, 23, 0)
    assert dates.on_time(utc(2024, 10, 27, 22, 59, 59))  # 23:59:59 CET
    assert not dates.on_time(utc(2024, 10, 27, 23, 0))
    assert dates.publication == utc(2025, 3, 30, 6, 0)
    assert dates.days_left(dt.date(2024, 10, 27)) == 1
    assert dates.days_left(dt.date(2024, 10, 28)) == 0
    assert dates.days_left(dt.date(2024, 10, 20)) == 8


def test_a_calendar_out_of_order_is_refused_in_swedish(tmp_path):
    calendar = tmp_path / "rounds.yaml"
    calendar.write_text(
        'rounds:\n  "2024-12":\n    opens: 2025-01-01\n    last_delivery_day: 2025-01-31\n'
        "    publication: 2025-01-15\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="publiceringen 2025-01-15 är inte efter sista dagen"):
        rounds.listed_rounds(calendar)


def test_a_file_arrives_when_it_was_uploaded_never_later_than_now(tmp_path, monkeypatch):
    path = tmp_path / "sukf_0180_2023-12.csv"
    path.write_text("x", encoding="utf-8")
    changed = dt.datetime.fromtimestamp(path.stat().st_ctime, tz=UTC)
    monkeypatch.delenv("SUKF_NOW", raising=False)
    assert intake.arrival_time(path) == changed
    monkeypatch.setenv("SUKF_NOW", "2024-01-31T23:59:00+01:00")
    assert intake.arrival_time(path) == utc(2024, 1, 31, 22, 59)


# ---------------------------------------------------------------------------------------------
# under Airflow, on one landed round

UNITS = {"0126": 40, "0580": 40, "2380": 30}
LATE = "0586"  # delivers after the last delivery day
CORRECTING = "0126"  # corrects its file after the last delivery day
IN_WINDOW = "2024-01-20T10:00:00+01:00"
AFTER_LAST_DAY = "2024-02-01T09:00:00+01:00"
BEFORE_PUBLICATION = "2024-02-15T07:59:00+01:00"
AT_PUBLICATION = "2024-02-15T08:00:00+01:00"


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.name != "published_at.txt"}


def _table(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def _assert_first_try(run) -> None:
    assert all(t.state == "success" and t.try_number == 1 for t in run.tasks), run.problems()


@pytest.fixture(scope="module")
def calendar_round(warehouse_engine, tmp_path_factory):
    """The round's on-time files landed and gated in its delivery window; then a late kommun's
    file and another kommun's correction landed and gated after the last delivery day."""
    from conftest import wipe_warehouse

    wipe_warehouse(warehouse_engine)
    patch = pytest.MonkeyPatch()
    inbox = Path(os.environ["SUKF_INBOX"])
    try:
        patch.setenv("SUKF_NOW", IN_WINDOW)
        generate_round_files(
            inbox, list(UNITS), [ROUND], cases_per_kommun=UNITS, seed=5, since=dt.date(2023, 1, 1)
        )
        assert {r["status"] for r in pipeline.land_new_files()} == {"landed"}
        pipeline.quality_gate()
        patch.setenv("SUKF_NOW", AFTER_LAST_DAY)
        later = tmp_path_factory.mktemp("later")
        landed = land_generated(later, {LATE: 35, CORRECTING: 55}, ROUND, seed=6)
        assert {r["status"] for r in landed} == {"landed"}
        assert {r["outcome"] for r in pipeline.quality_gate()} == {"accepted"}
        yield
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def published(calendar_round, tmp_path_factory):
    """su_round under Airflow before the publication time, at it, and once more after."""
    output = Path(os.environ["SUKF_OUTPUT"])
    patch = pytest.MonkeyPatch()
    try:
        patch.setenv("SUKF_NOW", BEFORE_PUBLICATION)
        before = airflow_local.run_dag("su_round")
        nothing = sorted(str(p.relative_to(output)) for p in output.rglob("v0*"))
        # the team's calendar page as this run left it (every run writes it again)
        calendar_page = tmp_path_factory.mktemp("calendar") / "kalender.html"
        shutil.copyfile(before.results("report")[0]["calendar"], calendar_page)
        plans = {"before": pipeline.publication_plan()}
        patch.setenv("SUKF_NOW", AT_PUBLICATION)
        plans["at_the_time"] = pipeline.publication_plan()
        first = airflow_local.run_dag("su_round")
        plans["published"] = pipeline.publication_plan()
        console_page = tmp_path_factory.mktemp("console") / "omgang.html"
        internal = Path(first.results("report")[0]["internal_index"]).parent
        shutil.copyfile(internal / "omgang.html", console_page)
        # the build lifts the cutoff now that the round is published: the late files are in
        pipeline.build_warehouse()
        plans["late_files_built"] = pipeline.publication_plan()
        revision = airflow_local.run_dag("su_round")
        again = pipeline.publish()
        # with approval required, a run with nothing new asks nobody
        patch.setenv("SUKF_REQUIRE_APPROVAL", "1")
        unchanged = airflow_local.run_dag("su_round")
        yield {
            "before": before,
            "nothing": nothing,
            "calendar_page": calendar_page,
            "console_page": console_page,
            "first": first,
            "revision": revision,
            "again": again,
            "plans": plans,
            "unchanged": unchanged,
            "statistik": output / "statistik" / ROUND,
            "kolada": output / "kolada" / ROUND,
        }
    finally:
        patch.undo()


@pytest.mark.slow
def test_nothing_is_published_before_the_publication_time(published):
    run = published["before"]
    _assert_first_try(run)
    assert run.results("publish_kolada") == [{"round_id": None}]
    (site,) = run.results("report")
    assert (site["round_id"], site["written"]) == (None, False)
    assert published["nothing"] == []
    # the team's calendar page shows where the round stands: the last day has passed, three
    # expected units delivered on time, one late, the others are missing
    (table,) = page_tables(published["calendar_page"])
    row = dict(zip(table.header, next(r for r in table.rows if r[0] == ROUND), strict=True))
    expected = len(reminders.expected_units(ROUND))
    assert row == {
        **row,
        "Sista leveransdag": "onsdag 31 januari 2024",
        "Dagar kvar": "0",
        "Publicering": "torsdag 15 februari 2024 kl. 08.00",
        "Förväntade": str(expected),
        "Levererat": "3",
        "Sent levererat": "1",
        "Saknas": str(expected - 4),
        "Publicerad version": "inte publicerad",
    }
    assert not {*UNITS, LATE} & set(row["Saknas (enheter)"].split(", "))


@pytest.mark.slow
def test_at_the_time_the_round_is_published_once_from_the_files_received_by_the_last_day(
    published,
):
    run = published["first"]
    _assert_first_try(run)
    (result,) = run.results("publish_kolada")
    assert (result["round_id"], result["version"], result["statistics_version"]) == (
        ROUND,
        "v001",
        "v001",
    )
    assert result["revision_log"] is None
    manifest = json.loads((published["statistik"] / "v001" / "manifest.json").read_text())
    in_force = manifest["in_force"]
    # the late kommun is not in it, and the correcting one with its on-time file
    assert set(in_force) == set(UNITS)
    received = {unit: dt.datetime.fromisoformat(d["received_at"]) for unit, d in in_force.items()}
    assert all(rounds.calendar_round(ROUND).on_time(t) for t in received.values())
    funnel = _table((published["statistik"] / "v001" / "tratt.csv").read_bytes())
    assert LATE not in {row["områdeskod"] for row in funnel}
    (site,) = run.results("report")
    assert site["round_id"] == ROUND
    # the round console: the calendar's dates, and the late kommun waiting for the revision
    console = {t.caption: t for t in page_tables(published["console_page"])}
    deliveries = console[f"Leveranser i omgång {ROUND}"]
    status = {r[deliveries.column("Kod")]: r[deliveries.column("Status")] for r in deliveries.rows}
    assert status[LATE] == "godkänd efter sista leveransdagen (i revideringen)"
    page = published["console_page"].read_text(encoding="utf-8")
    assert "<dt>Sista leveransdag</dt><dd>onsdag 31 januari 2024</dd>" in page


@pytest.mark.slow
def test_a_late_file_and_a_correction_make_the_revision_v002_with_its_log(published):
    run = published["revision"]
    _assert_first_try(run)
    (result,) = run.results("publish_kolada")
    assert (result["version"], result["statistics_version"]) == ("v002", "v002")
    v001, v002 = published["statistik"] / "v001", published["statistik"] / "v002"
    assert not (v001 / LOG_FILE).exists()
    log = _table((v002 / LOG_FILE).read_bytes())
    assert list(log[0]) == LOG_HEADER
    manifest = json.loads((v002 / "manifest.json").read_text())
    assert manifest["revision_of"] == "v001"
    assert set(manifest["in_force"]) == {*UNITS, LATE}
    # every line is a cell whose published text differs, as each version published it
    published_cells = {}
    for version in (v001, v002):
        for name in ("tratt.csv", "nationella_figurer.csv"):
            for row in _table((version / name).read_bytes()):
                published_cells.setdefault((version.name, name), []).append(row)
    funnel_before = {
        (r["nivå"], r["områdeskod"], r["kön"]): r for r in published_cells[("v001", "tratt.csv")]
    }
    funnel_after = {
        (r["nivå"], r["områdeskod"], r["kön"]): r for r in published_cells[("v002", "tratt.csv")]
    }
    changed = {
        (key, column)
        for key in funnel_before.keys() | funnel_after.keys()
        for column in (funnel_after.get(key) or funnel_before[key])
        if column not in {"omgång", "nivå", "områdeskod", "område", "kön", "publicering"}
        and funnel_before.get(key, {}).get(column, "saknas")
        != funnel_after.get(key, {}).get(column, "saknas")
    }
    logged = [line for line in log if line["tabell"] == "tratt.csv"]
    assert len(logged) == len(changed) > 0
    for line in logged:
        key = next(
            k
            for k in funnel_before.keys() | funnel_after.keys()
            if line["rad"].startswith(f"nivå {k[0]}, områdeskod {k[1]}, kön {k[2]}")
        )
        assert line["tidigare värde"] == funnel_before.get(key, {}).get(line["kolumn"], "saknas")
        assert line["nytt värde"] == funnel_after.get(key, {}).get(line["kolumn"], "saknas")
    reasons = {line["orsak"] for line in log}
    assert any(f"sen leverans från {LATE}" in reason for reason in reasons)
    assert any(f"rättad leverans från {CORRECTING}" in reason for reason in reasons)
    # a kommun's own cells name its own delivery only
    late_lines = [line for line in logged if f"områdeskod {LATE}" in line["rad"]]
    assert late_lines and all(
        line["orsak"].startswith(f"sen leverans från {LATE}") for line in late_lines
    )
    # the site's download page offers the log beside the published tables
    (site,) = run.results("report")
    public = Path(site["index"]).parent
    assert (public / "data" / LOG_FILE).read_bytes() == (v002 / LOG_FILE).read_bytes()
    assert "Revisionslogg för version v002" in (public / "nedladdning.html").read_text("utf-8")
    # a withheld cell shows its symbol, never a value
    withheld = [line for line in log if ".." in (line["tidigare värde"], line["nytt värde"])]
    assert all(line["förändring"] == "" for line in withheld)
    # the Kolada files' revision has a log of its own beside them, of their cells as each
    # version published them
    kolada_v001, kolada_v002 = published["kolada"] / "v001", published["kolada"] / "v002"
    assert Path(result["kolada_revision_log"]) == kolada_v002 / LOG_FILE
    assert not (kolada_v001 / LOG_FILE).exists()
    assert json.loads((kolada_v002 / "manifest.json").read_text())["revision_of"] == "v001"
    kolada_log = _table((kolada_v002 / LOG_FILE).read_bytes())
    assert list(kolada_log[0]) == LOG_HEADER

    def kolada_cells(version: Path) -> dict[tuple, dict[str, str]]:
        text = (version / "data.csv").read_text(encoding="utf-8")
        return {
            (r["kpi"], r["municipality"], r["period"], r["gender"]): r
            for r in csv.DictReader(io.StringIO(text), delimiter=";")
        }

    cells_before, cells_after = kolada_cells(kolada_v001), kolada_cells(kolada_v002)
    changed_cells = {
        (key, column)
        for key in cells_before.keys() | cells_after.keys()
        for column in ("value", "status")
        if cells_before.get(key, {}).get(column, "saknas")
        != cells_after.get(key, {}).get(column, "saknas")
    }
    assert len(kolada_log) == len(changed_cells) > 0
    for line in kolada_log:
        assert line["tabell"] == "data.csv"
        key = next(
            k
            for k in changed_cells
            if line["rad"]
            == f"kpi {k[0][0]}, municipality {k[0][1]}, period {k[0][2]}, gender {k[0][3]}"
            and line["kolumn"] == k[1]
        )[0]
        assert line["tidigare värde"] == cells_before.get(key, {}).get(line["kolumn"], "saknas")
        assert line["nytt värde"] == cells_after.get(key, {}).get(line["kolumn"], "saknas")
    late_cells = [line for line in kolada_log if f"municipality {LATE}," in line["rad"]]
    assert late_cells and all(
        line["orsak"] == next(r for r in reasons if r.startswith(f"sen leverans från {LATE}"))
        for line in late_cells
    )


@pytest.mark.slow
def test_the_revision_keeps_what_v001_withheld_and_what_it_published_of_unchanged_kommuner(
    published,
):
    """Read as the audit reads a release: every count v001 withheld is withheld in v002 too,
    and every count v001 published of a kommun whose delivery did not change (its value is
    the same, and a reader has it from v001) is published in v002. The attack over both
    versions together (audit.read_versions: the cells of unchanged areas are one count) works
    out no count of v002 and pins no count of v001 to 1-4: the publication audited v002
    together with v001 before writing it."""
    from sukvinnofrid import audit

    versions = [
        {
            name: (published["statistik"] / version / name).read_bytes()
            for name in (
                audit.FUNNEL_FILE,
                audit.FIGURES_FILE,
                audit.DEFINITIONS_FILE,
                audit.MANIFEST_FILE,
            )
        }
        for version in ("v001", "v002")
    ]
    v001, v002 = (audit.read_statistics(files) for files in versions)
    # (a category no case has any more is not in v002 at all)
    withheld_before = {
        cell for cell, value in v001.values.items() if value is None and cell in v002.values
    }
    assert withheld_before and all(v002.values[cell] is None for cell in withheld_before)
    unchanged = sorted(set(UNITS) - {CORRECTING})
    published_before = [
        cell
        for cell, value in v001.values.items()
        if value is not None and (cell[2] if cell[0] == "tratt" else cell[4]) in unchanged
    ]
    assert published_before
    assert all(v002.values[cell] == v001.values[cell] for cell in published_before)
    together = audit.read_versions(versions)
    linked = {c.what for c in together.constraints if c.what.startswith("oförändrat område")}
    assert linked == {f"oförändrat område kommun {kommun}" for kommun in unchanged} | {
        f"oförändrat område län {kommun[:2]}"
        for kommun in unchanged
        if not any(unit[:2] == kommun[:2] for unit in (CORRECTING, LATE))
    }
    # the publication of v002 audited it with v001: a reader of both works out no count of
    # v002, and pins no count of v001 to 1-4 that v001 alone did not give away (none)
    assert audit.attack(v001, 5).ok
    result = audit.attack(together, 5)
    assert not [
        audit.describe(f.cell)
        for f in result.findings
        if f.cell[0] == 1 or (f.low >= 1 and f.high is not None and f.high < 5)
    ]


@pytest.mark.slow
def test_publishing_again_with_nothing_new_gives_the_same_version(published):
    again = published["again"]
    assert (again["version"], again["statistics_version"], again["reused"]) == (
        "v002",
        "v002",
        True,
    )
    assert sorted(p.name for p in published["statistik"].glob("v0*")) == ["v001", "v002"]
    assert sorted(p.name for p in published["kolada"].glob("v0*")) == ["v001", "v002"]


# ---------------------------------------------------------------------------------------------
# reminders

REMINDER_DAY = "2024-01-17T07:00:00+01:00"  # the first reminder day of 2023-12


def test_the_reminder_says_round_dates_and_how_to_deliver_and_nothing_else():
    from sukvinnofrid.notify import DeliveryReminder, reminder_message

    dates = rounds.calendar_round(ROUND)
    assert [r.round_id for r in reminders.rounds_to_remind(dt.date(2024, 1, 17))] == [ROUND]
    assert reminders.rounds_to_remind(dt.date(2024, 1, 18)) == []
    reminder = DeliveryReminder(
        "0580",
        reminders.unit_name("0580"),
        ROUND,
        dates.closes,
        dates.last_delivery_day,
        dates.publication,
    )
    subject, body = reminder_message(reminder)
    assert subject == f"SU-Kvinnofrid: påminnelse om leveransen för omgång {ROUND}"
    assert "Linköping kommun (0580) har ännu inte lämnat någon fil" in body
    assert "ärendena till och med 31 december 2023" in body
    assert "Sista leveransdag är onsdag 31 januari 2024" in body
    assert "publiceras torsdag 15 februari 2024 kl. 08.00" in body
    assert "sukf_0580_2023-12.csv" in body
    assert "lösenord" not in body.lower()


@pytest.mark.slow
def test_on_a_reminder_day_each_unit_that_has_not_delivered_is_mailed_under_airflow(
    calendar_round, tmp_path, monkeypatch
):
    """On 17 January 2024 the round's on-time units have delivered (the fixture landed them
    on the 20th; here the clock is the 17th, but a delivery is a file received, whenever):
    every other expected unit with a contact gets one e-mail, one without a contact none."""
    expected = reminders.expected_units(ROUND)
    not_delivered = [u for u in expected if u not in {*UNITS, LATE, CORRECTING}]
    without_contact = not_delivered[0]
    contacts = tmp_path / "kontakter.csv"
    contacts.write_text(
        "kod,e-post\n"
        + "".join(f"{u},registrator.{u}@kommun.example\n" for u in [*UNITS, *not_delivered[1:]]),
        encoding="utf-8",
    )
    with SmtpSink() as sink:
        for variable, value in {
            "SUKF_NOW": REMINDER_DAY,
            "SUKF_CONTACTS": str(contacts),
            "AIRFLOW_CONN_SMTP_DEFAULT": smtp_connection(sink.port),
        }.items():
            monkeypatch.setenv(variable, value)
        run = airflow_local.run_dag("su_reminders")
    _assert_first_try(run)
    (sent,) = run.results("send_reminders")
    assert {(r["unit"], r["sent"]) for r in sent} == {
        (u, u != without_contact) for u in not_delivered
    }
    assert sorted(address for mail in sink.received for address in mail.recipients) == sorted(
        f"registrator.{u}@kommun.example" for u in not_delivered[1:]
    )
    assert {mail.subject for mail in sink.received} == {
        f"SU-Kvinnofrid: påminnelse om leveransen för omgång {ROUND}"
    }
    # the next day is no reminder day: nothing is sent
    monkeypatch.setenv("SUKF_NOW", "2024-01-18T07:00:00+01:00")
    assert pipeline.send_reminders() == []


@pytest.mark.slow
def test_approval_is_asked_once_per_publication_not_per_upload(published):
    """publication_plan: something new to approve only for the first publication (once the
    last delivery day has passed, ahead of its time) and for a revision; nothing once the round
    is published as it stands. Under Airflow with SUKF_REQUIRE_APPROVAL, a run with nothing new
    skips the draft and the approval."""
    plans = published["plans"]
    publication = "2024-02-15T08:00:00+01:00"
    first = {"round_id": ROUND, "new": True, "kind": "first", "publication": publication}
    # the last delivery day has passed: the draft is asked for ahead of the publication time
    assert plans["before"] == {**first, "action": "ask"}
    assert plans["at_the_time"] == {**first, "action": "ask"}
    assert (plans["published"]["new"], plans["published"]["kind"]) == (False, "revision")
    assert plans["published"]["action"] == "none"
    assert (plans["late_files_built"]["new"], plans["late_files_built"]["kind"]) == (
        True,
        "revision",
    )
    assert plans["late_files_built"]["action"] == "ask"
    run = published["unchanged"]
    states = {t.task_id: (t.state, t.try_number) for t in run.tasks}
    assert states["plan_publication"] == ("success", 1)
    skipped = (
        "review",
        "approve_publication",
        "record_approval",
        "approved_earlier",
        "publish_kolada",
        "report",
    )
    assert {states[t][0] for t in skipped} == {"skipped"}
    assert all(states[t] == ("success", 1) for t in ("gate_remaining", "dbt_build"))


# ---------------------------------------------------------------------------------------------
# the revision log, by hand


def _csv(header: str, *rows: str) -> bytes:
    return ("\ufeff" + "\r\n".join([header, *rows]) + "\r\n").encode("utf-8")


FUNNEL_HEADER = "omgång;nivå;områdeskod;område;kön;aktualiserade;avslutade"
FIGURE_HEADER = (
    "omgång;periodtyp;period;nivå;områdeskod;område;figur;diagram;titel;uppdelning;"
    "uppdelningsvärde;kategori;kategorinamn;antal;n;andel (%);medelvärde;n population;n svar"
)


def test_the_revision_log_shows_each_changed_cell_as_each_version_published_it():
    """0580 delivered late: its kommun row comes, riket's count changes and a cell withheld in
    the first version (..) is published in the second; 0126 corrected: a share changes by a
    decimal amount. A withheld value never shows: only the symbol, and no change."""
    from sukvinnofrid.revisions import Delivery, changed_deliveries, revision_log

    before = {
        "tratt.csv": _csv(
            FUNNEL_HEADER,
            "2023-12;riket;00;Riket;T;1\u00a0203;..",
            "2023-12;kommun;0126;Huddinge;T;40;12",
        ),
        "nationella_figurer.csv": _csv(
            FIGURE_HEADER,
            "2023-12;omgång;2023-12;kommun;0126;Huddinge;f2;2;Titel;alla;alla;1;Ja;7;20;35,0;;40;",
        ),
    }
    after = {
        "tratt.csv": _csv(
            FUNNEL_HEADER,
            "2023-12;riket;00;Riket;T;1\u00a0243;17",
            "2023-12;kommun;0126;Huddinge;T;40;..",
            "2023-12;kommun;0580;Linköping;T;40;5",
        ),
        "nationella_figurer.csv": _csv(
            FIGURE_HEADER,
            "2023-12;omgång;2023-12;kommun;0126;Huddinge;f2;2;Titel;alla;alla;1;Ja;8;20;40,0;;40;",
        ),
    }
    in_force = {
        "0126": Delivery("0126", "0126", "01", 9, "2024-02-02T10:00:00+00:00"),
        "0580": Delivery("0580", "0580", "05", 8, "2024-02-01T10:00:00+00:00"),
    }
    changes = changed_deliveries({"0126": {"upload_id": 3}, "2380": {"upload_id": 4}}, in_force)
    assert [reason for _, reason in changes] == [
        "rättad leverans från 0126 (uppladdning 9)",
        "sen leverans från 0580 (uppladdning 8)",
    ]
    lines = [
        dict(zip(LOG_HEADER, row, strict=True))
        for row in csv.reader(
            io.StringIO(revision_log(before, after, changes).decode("utf-8-sig")), delimiter=";"
        )
    ][1:]
    both = "rättad leverans från 0126 (uppladdning 9); sen leverans från 0580 (uppladdning 8)"
    rows = {(line["rad"], line["kolumn"]): line for line in lines}
    assert len(lines) == 7
    riket = "nivå riket, områdeskod 00, kön T (Riket)"
    assert rows[(riket, "aktualiserade")] == {
        **rows[(riket, "aktualiserade")],
        "tidigare värde": "1\u00a0203",
        "nytt värde": "1\u00a0243",
        "förändring": "+40",
        "orsak": both,
    }
    assert (
        rows[(riket, "avslutade")]["tidigare värde"],
        rows[(riket, "avslutade")]["förändring"],
    ) == (
        "..",
        "",
    )
    huddinge = "nivå kommun, områdeskod 0126, kön T (Huddinge)"
    assert (
        rows[(huddinge, "avslutade")]["nytt värde"],
        rows[(huddinge, "avslutade")]["orsak"],
    ) == (
        "..",
        "rättad leverans från 0126 (uppladdning 9)",
    )
    linkoping = "nivå kommun, områdeskod 0580, kön T (Linköping)"
    assert rows[(linkoping, "aktualiserade")]["tidigare värde"] == "saknas"
    assert rows[(linkoping, "avslutade")]["orsak"] == "sen leverans från 0580 (uppladdning 8)"
    share = next(line for line in lines if line["kolumn"] == "andel (%)")
    assert (share["tidigare värde"], share["nytt värde"], share["förändring"]) == (
        "35,0",
        "40,0",
        "+5,0",
    )
    assert "12" not in {line["nytt värde"] for line in lines}  # Huddinge's withheld avslutade


def test_the_kolada_revision_log_names_the_kpi_kommun_year_and_why():
    """Kolada's data.csv as two versions published it: 0580's late delivery brings its value and
    changes riket's; a value withheld before ('..', no value) is published after. Each line
    names the KPI, kommun, year and kön, the value or status before and after, and why."""
    from sukvinnofrid.revisions import KOLADA_TABLES, Delivery, changed_deliveries, revision_log

    header = "kpi;municipality;period;gender;value;status\n"
    before = {
        "data.csv": (header + "U30750;0000;2023;T;12.5;\nU30750;0126;2023;T;;..\n").encode(),
        "oudata.csv": b"kpi;ou;period;gender;value;status\n",
    }
    after = {
        "data.csv": (
            header + "U30750;0000;2023;T;13.0;\nU30750;0126;2023;T;8.2;\nU30750;0580;2023;T;4.1;\n"
        ).encode(),
        "oudata.csv": b"kpi;ou;period;gender;value;status\n",
    }
    changes = changed_deliveries(
        {"0126": {"upload_id": 3}},
        {
            "0126": Delivery("0126", "0126", "01", 3, "2024-01-20T10:00:00+00:00"),
            "0580": Delivery("0580", "0580", "05", 8, "2024-02-01T10:00:00+00:00"),
        },
    )
    lines = [
        dict(zip(LOG_HEADER, row, strict=True))
        for row in csv.reader(
            io.StringIO(revision_log(before, after, changes, KOLADA_TABLES).decode("utf-8-sig")),
            delimiter=";",
        )
    ][1:]
    rows = {(line["rad"], line["kolumn"]): line for line in lines}
    riket = rows[("kpi U30750, municipality 0000, period 2023, gender T", "value")]
    assert (riket["tidigare värde"], riket["nytt värde"], riket["förändring"]) == (
        "12.5",
        "13.0",
        "+0,5",
    )
    assert riket["orsak"] == "sen leverans från 0580 (uppladdning 8)"
    huddinge = "kpi U30750, municipality 0126, period 2023, gender T"
    value, status = rows[(huddinge, "value")], rows[(huddinge, "status")]
    assert (value["tidigare värde"], status["tidigare värde"]) == ("", "..")
    assert status["nytt värde"] == ""
    assert value["förändring"] == ""
    linkoping = rows[("kpi U30750, municipality 0580, period 2023, gender T", "value")]
    assert (linkoping["tidigare värde"], linkoping["nytt värde"]) == ("saknas", "4.1")
    assert linkoping["orsak"] == "sen leverans från 0580 (uppladdning 8)"
    assert len(lines) == 5  # riket's value; Huddinge's value and status; Linköping's two


NEXT_ROUND = "2024-06"


@pytest.mark.slow
def test_a_correction_of_an_earlier_round_makes_its_revision_after_the_next_round(
    published, tmp_path
):
    """Round 2024-06 is delivered in its window and published at its time; then 0126 corrects
    its 2023-12 file. su_round without round_id publishes round 2023-12's revision, with the
    corrected delivery in its log, leaves 2024-06 as it was, and a run after it publishes
    nothing new. (Runs last in the module: it adds a round.)"""
    output, inbox = Path(os.environ["SUKF_OUTPUT"]), Path(os.environ["SUKF_INBOX"])
    dates = rounds.calendar_round(NEXT_ROUND)

    def versions(round_id: str) -> list[str]:
        return sorted(p.name for p in (output / "statistik" / round_id).glob("v0*"))

    patch = pytest.MonkeyPatch()
    try:
        patch.delenv("SUKF_REQUIRE_APPROVAL", raising=False)  # `published` left it set
        patch.setenv("SUKF_NOW", "2024-08-20T10:00:00+02:00")
        generate_round_files(
            inbox,
            list(UNITS),
            [NEXT_ROUND],
            cases_per_kommun=UNITS,
            seed=8,
            since=dt.date(2023, 1, 1),
        )
        assert {r["status"] for r in pipeline.land_new_files()} == {"landed"}
        assert {r["outcome"] for r in pipeline.quality_gate()} == {"accepted"}
        patch.setenv("SUKF_NOW", dates.publication.isoformat())
        next_run = airflow_local.run_dag("su_round")
        _assert_first_try(next_run)
        (first,) = next_run.results("publish_kolada")
        assert (first["round_id"], first["statistics_version"]) == (NEXT_ROUND, "v001")
        earlier_versions = versions(ROUND)

        patch.setenv("SUKF_NOW", "2024-09-20T10:00:00+02:00")
        (landed,) = land_generated(tmp_path, {CORRECTING: 50}, ROUND, seed=9)
        assert landed["status"] == "landed"
        assert {r["outcome"] for r in pipeline.quality_gate()} == {"accepted"}
        # until a build has the correction, the latest round is the one, and it is current
        plan = pipeline.publication_plan()
        assert (plan["round_id"], plan["action"]) == (NEXT_ROUND, "none")
        revision_run = airflow_local.run_dag("su_round")
        _assert_first_try(revision_run)
        (revised,) = revision_run.results("publish_kolada")
        expected = f"v{len(earlier_versions) + 1:03d}"
        assert (revised["round_id"], revised["statistics_version"]) == (ROUND, expected)
        assert versions(ROUND) == [*earlier_versions, expected]
        assert versions(NEXT_ROUND) == ["v001"]
        log = _table((output / "statistik" / ROUND / expected / LOG_FILE).read_bytes())
        reasons = {line["orsak"] for line in log}
        assert reasons and all(r.startswith(f"rättad leverans från {CORRECTING}") for r in reasons)
        (site,) = revision_run.results("report")
        assert Path(site["index"]) == output / "rapport" / ROUND / "index.html"

        # nothing new: the next run takes the latest round, which is current
        plan = pipeline.publication_plan()
        assert (plan["round_id"], plan["action"]) == (NEXT_ROUND, "none")
        republished = pipeline.publish()
        assert (republished["round_id"], republished["reused"]) == (NEXT_ROUND, True)
        assert versions(ROUND) == [*earlier_versions, expected]
        assert versions(NEXT_ROUND) == ["v001"]
    finally:
        patch.undo()
