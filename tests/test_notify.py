"""The failure e-mail to the statistics team, sent to a real SMTP server on localhost."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local_servers import SMTP_VARIABLES, SmtpSink, free_port
from sukvinnofrid import notify
from sukvinnofrid.privacy import luhn_check_digit


@pytest.fixture(autouse=True)
def no_smtp_settings(monkeypatch):
    for variable in SMTP_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def use_sink(monkeypatch, sink: SmtpSink, **extra: str) -> None:
    settings = {
        "SUKF_SMTP_HOST": "127.0.0.1",
        "SUKF_SMTP_PORT": str(sink.port),
        "SUKF_SMTP_TLS": "none",
        "SUKF_SMTP_FROM": "pipeline@scb.example",
        "SUKF_ALERT_EMAIL": "statistik@socialstyrelsen.example",
        **extra,
    }
    for variable, value in settings.items():
        monkeypatch.setenv(variable, value)


def personnummer(birth: str, serial: str, separator: str) -> str:
    """A valid personnummer (check digit by the Luhn rule) from a date ÅÅMMDD and three digits."""
    return f"{birth}{separator}{serial}{luhn_check_digit(birth + serial)}"


FAILURE = notify.TaskFailure(
    dag_id="su_round",
    task_id="quality_gate",
    run_id="manual__2026-11-29",
    map_label=None,
    try_number=3,
    error="GateError: uppladdning 7",
    log_url="http://localhost:8080/dags/su_round/runs/x/tasks/quality_gate",
)


def test_the_statistics_team_gets_a_swedish_e_mail_naming_the_task(monkeypatch):
    with SmtpSink(password="hemligt") as sink:
        use_sink(
            monkeypatch,
            sink,
            SUKF_SMTP_USER="pipeline",
            SUKF_SMTP_PASSWORD="hemligt",
            SUKF_ALERT_EMAIL="a@socialstyrelsen.example, b@socialstyrelsen.example",
        )
        assert notify.notify_failure(FAILURE) is True
    (mail,) = sink.received
    assert mail.login == ("pipeline", "hemligt")
    assert mail.sender == "pipeline@scb.example"
    assert mail.recipients == ["a@socialstyrelsen.example", "b@socialstyrelsen.example"]
    assert mail.subject == "SU-Kvinnofrid: su_round.quality_gate misslyckades"
    assert "Uppgiften quality_gate i flödet su_round misslyckades" in mail.body
    assert "(försök 3)" in mail.body and "GateError: uppladdning 7" in mail.body
    assert "manual__2026-11-29" in mail.body and FAILURE.log_url in mail.body


def test_the_sender_defaults_to_the_login(monkeypatch):
    with SmtpSink() as sink:
        use_sink(monkeypatch, sink, SUKF_SMTP_USER="larm@scb.example", SUKF_SMTP_FROM="")
        assert notify.notify_failure(FAILURE) is True
    assert sink.received[0].sender == "larm@scb.example"


class _TaskInstance:
    """What an Airflow failure callback's context holds as `ti` (the attributes notify reads)."""

    def __init__(self, map_index: int = -1, rendered_map_index: str | None = None) -> None:
        self.dag_id, self.task_id, self.run_id = "su_intake", "land_upload", "scheduled__2026"
        self.map_index, self.rendered_map_index, self.try_number = map_index, rendered_map_index, 4
        self.log_url = "http://localhost:8080/dags/su_intake/runs/scheduled__2026/tasks/land_upload"


@settings(max_examples=25, deadline=None)
@given(
    birth=st.dates().map(lambda d: d.strftime("%y%m%d")),
    serial=st.from_regex(r"\A[0-9]{3}\Z"),
    separator=st.sampled_from(["", "-", "+", " "]),
    file_name=st.booleans(),
)
def test_a_personnummer_in_the_error_or_file_name_never_leaves_by_e_mail(
    birth, serial, separator, file_name
):
    number = personnummer(birth, serial, separator)
    failure = notify.failure_of(
        {
            "ti": _TaskInstance(
                map_index=0, rendered_map_index=f"sukf_0580_{number}.csv" if file_name else None
            ),
            "exception": ValueError(f"rad 3: kunde inte läsa {number!r} i kolumnen v4_klient"),
        }
    )
    with SmtpSink() as sink, pytest.MonkeyPatch.context() as monkeypatch:
        use_sink(monkeypatch, sink)
        assert notify.notify_failure(failure) is True
    (mail,) = sink.received
    text = mail.subject + mail.body
    assert number not in text and number.replace(separator, "") not in text
    assert "ÅÅMMDD-XXXX" in mail.body
    assert "ValueError: rad 3: kunde inte läsa" in mail.body
    assert (
        "land_upload (sukf_0580_ÅÅMMDD-XXXX.csv)" if file_name else "land_upload (0)"
    ) in mail.subject


def test_without_smtp_settings_the_log_says_no_e_mail_was_sent(monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="sukvinnofrid.notify"):
        assert notify.notify_failure(FAILURE) is False
    assert "Ingen e-post skickades" in caplog.text and "SUKF_SMTP_HOST" in caplog.text
    monkeypatch.setenv("SUKF_SMTP_HOST", "127.0.0.1")  # a server but nobody to tell
    assert notify.SmtpSettings.from_env() is None


@pytest.mark.parametrize(
    "variable, value, named",
    [
        ("SUKF_SMTP_TLS", "tls1.3", "SUKF_SMTP_TLS"),
        ("SUKF_SMTP_PORT", "smtp", "SUKF_SMTP_PORT"),
        ("SUKF_SMTP_PORT", "0", "SUKF_SMTP_PORT"),
        ("SUKF_SMTP_PORT", "70000", "SUKF_SMTP_PORT"),
        ("SUKF_SMTP_FROM", "", "SUKF_SMTP_FROM"),
        ("SUKF_SMTP_PASSWORD", "lösenord", "SUKF_SMTP_PASSWORD"),
        ("SUKF_SMTP_USER", "åsa", "SUKF_SMTP_USER"),
    ],
)
def test_an_unusable_setting_is_logged_by_name_and_nothing_raises(
    monkeypatch, caplog, variable, value, named
):
    monkeypatch.setenv("SUKF_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SUKF_ALERT_EMAIL", "statistik@socialstyrelsen.example")
    monkeypatch.setenv("SUKF_SMTP_FROM", "pipeline@scb.example")
    monkeypatch.setenv(variable, value)
    with caplog.at_level(logging.ERROR, logger="sukvinnofrid.notify"):
        assert notify.notify_failure(FAILURE) is False
    assert named in caplog.text


@pytest.mark.parametrize("tls, port", [("starttls", 587), ("ssl", 465), ("none", 25)])
def test_the_default_port_follows_the_tls_mode(monkeypatch, tls, port):
    monkeypatch.setenv("SUKF_SMTP_HOST", "mail.example")
    monkeypatch.setenv("SUKF_ALERT_EMAIL", "statistik@socialstyrelsen.example")
    monkeypatch.setenv("SUKF_SMTP_FROM", "pipeline@scb.example")
    monkeypatch.setenv("SUKF_SMTP_TLS", tls.upper())
    assert (notify.SmtpSettings.from_env().tls, notify.SmtpSettings.from_env().port) == (tls, port)


@pytest.mark.parametrize(
    "problem", ["server down", "recipient refused", "wrong password", "no STARTTLS"]
)
def test_a_mail_problem_is_logged_and_never_raises(monkeypatch, caplog, problem):
    with SmtpSink(password="ratt", reject_recipients=problem == "recipient refused") as sink:
        use_sink(monkeypatch, sink, SUKF_SMTP_USER="pipeline", SUKF_SMTP_PASSWORD="ratt")
        if problem == "server down":
            monkeypatch.setenv("SUKF_SMTP_PORT", str(free_port()))
        elif problem == "wrong password":
            monkeypatch.setenv("SUKF_SMTP_PASSWORD", "fel")
        elif problem == "no STARTTLS":  # the password is not sent in clear
            monkeypatch.setenv("SUKF_SMTP_TLS", "starttls")
        with caplog.at_level(logging.ERROR, logger="sukvinnofrid.notify"):
            assert notify.notify_failure(FAILURE) is False
    assert "E-post om felet kunde inte skickas via 127.0.0.1" in caplog.text
    assert sink.received == []
