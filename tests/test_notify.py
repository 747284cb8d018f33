"""E-mail through Airflow's SMTP notifier, to a real SMTP server on localhost: the failure e-mail
to the statistics team and the notice to a kommun that its feedback is ready."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local_servers import SMTP_VARIABLES, SmtpSink, free_port, smtp_connection
from sukvinnofrid import notify
from sukvinnofrid.privacy import luhn_check_digit


@pytest.fixture(autouse=True)
def no_smtp_settings(monkeypatch, tmp_path):
    for variable in SMTP_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SUKF_CONTACTS", str(tmp_path / "kontakter.csv"))
    monkeypatch.delenv("SUKF_SFTP_ADDRESS", raising=False)


def use_sink(monkeypatch, sink: SmtpSink, login=None, password=None, **extra: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(sink.port, login, password))
    monkeypatch.setenv("SUKF_ALERT_EMAIL", "statistik@socialstyrelsen.example")
    for variable, value in extra.items():
        monkeypatch.setenv(variable, value)


def personnummer(birth: str, serial: str, separator: str) -> str:
    """A valid personnummer (check digit by the Luhn rule) from a date ÅÅMMDD and three digits."""
    return f"{birth}{separator}{serial}{luhn_check_digit(birth + serial)}"


class _TaskInstance:
    """What an Airflow failure callback's context holds as `ti` (the attributes notify reads)."""

    def __init__(self, map_index: int = -1, rendered_map_index: str | None = None) -> None:
        self.dag_id, self.task_id, self.run_id = "su_intake", "land_upload", "scheduled__2026"
        self.map_index, self.rendered_map_index, self.try_number = map_index, rendered_map_index, 4
        self.log_url = "http://localhost:8080/dags/su_intake/runs/scheduled__2026/tasks/land_upload"


def failing_context(map_index: int = -1, rendered_map_index: str | None = None, error=None):
    return {
        "ti": _TaskInstance(map_index, rendered_map_index),
        "exception": error or RuntimeError("GateError: uppladdning 7"),
    }


def test_the_statistics_team_gets_a_swedish_e_mail_naming_the_task(monkeypatch):
    with SmtpSink(password="hemligt") as sink:
        use_sink(
            monkeypatch,
            sink,
            "pipeline",
            "hemligt",
            SUKF_ALERT_EMAIL="a@socialstyrelsen.example, b@socialstyrelsen.example",
        )
        notify.TaskFailureNotifier()(failing_context())
    (mail,) = sink.received
    assert mail.login == ("pipeline", "hemligt")
    assert mail.sender == "pipeline@scb.example"  # the connection's from_email
    assert mail.recipients == ["a@socialstyrelsen.example", "b@socialstyrelsen.example"]
    assert mail.subject == "SU-Kvinnofrid: su_intake.land_upload misslyckades"
    assert "Uppgiften land_upload i flödet su_intake misslyckades" in mail.body
    assert "(försök 4)" in mail.body and "RuntimeError: GateError: uppladdning 7" in mail.body
    assert "scheduled__2026" in mail.body and _TaskInstance().log_url in mail.body


def test_an_error_is_text_in_the_e_mail_never_markup_or_a_template(monkeypatch):
    error = ValueError("<script>x</script> {{ conn.smtp_default.password }} & {% raw %}")
    with SmtpSink(password="hemligt") as sink:
        use_sink(monkeypatch, sink, "pipeline", "hemligt")
        notify.TaskFailureNotifier()(failing_context(error=error))
    (mail,) = sink.received
    assert "<script>" not in mail.html and "hemligt" not in mail.html
    assert f"ValueError: {error}" in mail.body


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
    context = failing_context(
        0,
        f"sukf_0580_{number}.csv" if file_name else None,
        ValueError(f"rad 3: kunde inte läsa {number!r} i kolumnen v4_klient"),
    )
    with SmtpSink() as sink, pytest.MonkeyPatch.context() as monkeypatch:
        use_sink(monkeypatch, sink)
        notify.task_failed(context)
    (mail,) = sink.received
    text = mail.subject + mail.body
    assert number not in text and number.replace(separator, "") not in text
    assert "ÅÅMMDD-XXXX" in mail.body
    assert "ValueError: rad 3: kunde inte läsa" in mail.body
    assert (
        "land_upload (sukf_0580_ÅÅMMDD-XXXX.csv)" if file_name else "land_upload (0)"
    ) in mail.subject


def test_without_a_connection_or_recipient_the_log_says_no_e_mail_was_sent(monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="sukvinnofrid.notify"):
        notify.task_failed(failing_context())
    assert "Ingen e-post skickades om felet" in caplog.text
    assert "AIRFLOW_CONN_SMTP_DEFAULT" in caplog.text
    with SmtpSink() as sink:
        use_sink(monkeypatch, sink, SUKF_ALERT_EMAIL="")  # a server but nobody to tell
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="sukvinnofrid.notify"):
            notify.task_failed(failing_context())
    assert sink.received == [] and "Ingen e-post skickades om felet" in caplog.text


@pytest.mark.parametrize(
    "problem", ["server down", "recipient refused", "wrong password", "no STARTTLS"]
)
def test_a_mail_problem_is_logged_and_never_raises(monkeypatch, caplog, problem):
    with SmtpSink(password="ratt", reject_recipients=problem == "recipient refused") as sink:
        port = free_port() if problem == "server down" else sink.port
        password = "fel" if problem == "wrong password" else "ratt"
        use_sink(monkeypatch, sink)
        connection = smtp_connection(port, "pipeline", password)
        if problem == "no STARTTLS":  # the password is not sent in clear
            connection = connection.replace('"disable_tls": true', '"disable_tls": false')
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", connection)
        with caplog.at_level(logging.ERROR, logger="sukvinnofrid.notify"):
            notify.task_failed(failing_context())
    assert "E-post om felet kunde inte skickas via smtp_default" in caplog.text
    assert sink.received == []


# --- the notice to a kommun -----------------------------------------------------------------------


READY = notify.FeedbackReady(17, "0180", "2023-12", "aterkoppling/2023-12/upload_17.html")


def write_contacts(monkeypatch, text: str) -> None:
    path = notify.get_settings().contacts_file
    path.write_text(text, encoding="utf-8")


def test_a_kommuns_contacts_get_a_swedish_notice_of_where_the_feedback_is(monkeypatch):
    write_contacts(
        monkeypatch,
        "kod,e-post\n0180,statistik@stockholm.example\n0180,it@stockholm.example\n"
        "1480,statistik@goteborg.example\n",
    )
    with SmtpSink() as sink:
        use_sink(monkeypatch, sink, SUKF_SFTP_ADDRESS="sftp.sukf.example:2022")
        sent = notify.notify_kommuner([READY])
    assert sent == [{"upload_id": 17, "account": "0180", "recipients": 2}]
    (mail,) = sink.received
    assert mail.recipients == ["statistik@stockholm.example", "it@stockholm.example"]
    assert mail.subject == "SU-Kvinnofrid: återkoppling på er fil för omgång 2023-12"
    assert (
        "Återkopplingen på er fil till SU-Kvinnofrid för omgång 2023-12 (uppladdning 17) "
        "finns nu att hämta." in mail.body
    )
    assert (
        "Logga in på SFTP-servern sftp.sukf.example:2022 med kontot 0180, samma konto och "
        "nyckel som ni lämnar filerna med, och hämta filen aterkoppling/2023-12/upload_17.html "
        "från mappen aterkoppling." in mail.body
    )
    assert "sftp -P 2022 0180@sftp.sukf.example\nget aterkoppling/2023-12/upload_17.html" in (
        mail.body
    )


def test_a_file_without_a_readable_round_gets_a_notice_without_one(monkeypatch):
    write_contacts(monkeypatch, "kod,e-post\n0180,statistik@stockholm.example\n")
    unread = notify.FeedbackReady(19, "0180", "", "aterkoppling/okand_omgang/upload_19.html")
    with SmtpSink() as sink:
        use_sink(monkeypatch, sink)
        notify.notify_kommuner([unread])
    (mail,) = sink.received
    assert mail.subject == "SU-Kvinnofrid: återkoppling på er fil"
    assert "till SU-Kvinnofrid (uppladdning 19) finns nu att hämta" in mail.body
    assert "hämta filen aterkoppling/okand_omgang/upload_19.html" in mail.body
    assert "sftp " not in mail.body  # no server address configured: no command to copy


def test_an_account_without_contacts_gets_no_notice(monkeypatch):
    write_contacts(monkeypatch, "kod,e-post\n1480,statistik@goteborg.example\n")
    with SmtpSink() as sink:
        use_sink(monkeypatch, sink)
        assert notify.notify_kommuner([READY]) == []
    assert sink.received == []


@pytest.mark.parametrize(
    "text",
    [
        "kommun;mejl\n0180;a@b.se\n",
        "kod,e-post\n0180,inte en adress\n",
        "kod,e-post\nStockholm,statistik@stockholm.example\n",
        "kod,e-post\n0180,a@b.se,c@d.se\n",
        "kod,e-post\n0180,Anna <a@b.se>\n",
    ],
)
def test_a_contacts_line_that_cannot_be_used_stops_the_notices_and_says_where(monkeypatch, text):
    write_contacts(monkeypatch, text)
    with pytest.raises(ValueError, match=r"kontakter\.csv") as error:
        notify.notify_kommuner([READY])
    assert "a@b.se" not in str(error.value)


def test_a_notice_that_cannot_be_sent_fails_after_the_others_are_sent(monkeypatch):
    write_contacts(
        monkeypatch, "kod,e-post\n0180,statistik@stockholm.example\n1480,s@goteborg.example\n"
    )
    other = notify.FeedbackReady(18, "1480", "2023-12", "aterkoppling/2023-12/upload_18.html")
    with SmtpSink(reject_recipients=True) as sink:
        use_sink(monkeypatch, sink)
        with pytest.raises(RuntimeError, match="0180, 1480"):
            notify.notify_kommuner([READY, other])
    assert sink.received == []
