"""Local network helpers for the tests: a free port, and a real SMTP server on localhost that
speaks enough SMTP for smtplib (EHLO, AUTH PLAIN, MAIL, RCPT, DATA) and keeps what it accepts."""

from __future__ import annotations

import base64
import email
import email.policy
import html
import json
import re
import socket
import socketserver
import threading
from dataclasses import dataclass, field

# What sukvinnofrid.notify reads besides the contacts file: Airflow's SMTP connection and the
# statistics team's address(es).
SMTP_VARIABLES = frozenset({"AIRFLOW_CONN_SMTP_DEFAULT", "SUKF_ALERT_EMAIL"})


def smtp_connection(port: int, login: str | None = None, password: str | None = None) -> str:
    """AIRFLOW_CONN_SMTP_DEFAULT for a server on localhost without TLS (the sink)."""
    connection = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {
            "from_email": "pipeline@scb.example",
            "disable_ssl": True,
            "disable_tls": True,
            "retry_limit": 0,
            "timeout": 10,
        },
    }
    if login:
        connection |= {"login": login, "password": password}
    return json.dumps(connection)


def free_port() -> int:
    """A localhost port nothing listens on (just now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    sender: str
    recipients: list[str]
    login: tuple[str, str] | None
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        """Unfolded (a long subject is folded right after 'Subject:', leaving a blank in front)."""
        return str(self.message["Subject"]).strip()

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()

    @property
    def body(self) -> str:
        """The text as a reader sees it: the HTML without its tags, entities resolved."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.html))


@dataclass
class SmtpSink:
    password: str | None = None  # when set, AUTH must give it and mail needs a login
    reject_recipients: bool = False
    received: list[Received] = field(default_factory=list)

    def __enter__(self) -> SmtpSink:
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, text: str) -> None:
                self.wfile.write(text.encode() + b"\r\n")

            def handle(self) -> None:
                self.reply("220 sink ESMTP")
                sender, recipients, login = "", [], None
                while line := self.rfile.readline():
                    command = line.decode("utf-8", "replace").rstrip("\r\n")
                    verb = command.split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        self.reply("250-sink\r\n250 AUTH PLAIN")
                    elif verb == "HELO" or verb == "NOOP":
                        self.reply("250 ok")
                    elif verb == "AUTH":
                        _, user, password = (
                            base64.b64decode(command.split()[2]).decode().split("\0")
                        )
                        if sink.password is not None and password != sink.password:
                            self.reply("535 authentication failed")
                        else:
                            login = (user, password)
                            self.reply("235 ok")
                    elif verb == "MAIL":
                        if sink.password is not None and login is None:
                            self.reply("530 authentication required")
                            continue
                        sender = command.split(":", 1)[1].strip().strip("<>").split(">")[0]
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        if sink.reject_recipients:
                            self.reply("550 no such mailbox")
                            continue
                        recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 ok")
                    elif verb == "DATA":
                        self.reply("354 go ahead")
                        data = []
                        while (data_line := self.rfile.readline()) not in (b".\r\n", b""):
                            data.append(data_line[1:] if data_line.startswith(b"..") else data_line)
                        sink.received.append(
                            Received(
                                sender,
                                recipients,
                                login,
                                email.message_from_bytes(
                                    b"".join(data), policy=email.policy.default
                                ),
                            )
                        )
                        sender, recipients = "", []
                        self.reply("250 queued")
                    elif verb == "RSET":
                        sender, recipients = "", []
                        self.reply("250 ok")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def __exit__(self, *_) -> None:
        self._server.shutdown()
        self._server.server_close()
