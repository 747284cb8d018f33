"""Local network helpers for the tests: a free port, a real SMTP server on localhost that
speaks enough SMTP for smtplib (EHLO, AUTH PLAIN, MAIL, RCPT, DATA) and keeps what it accepts,
and a real Airflow api-server with users of the test's choosing."""

from __future__ import annotations

import base64
import email
import email.policy
import html
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

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
    # True: every recipient is refused; a set of addresses: those
    reject_recipients: bool | frozenset[str] = False
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
                        address = command.split(":", 1)[1].strip().strip("<>")
                        refused = sink.reject_recipients
                        if refused is True or (refused and address in refused):
                            self.reply("550 no such mailbox")
                            continue
                        recipients.append(address)
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


@dataclass
class AirflowApiServer:
    """A real `airflow api-server` (one worker) on localhost, on the project's AIRFLOW_HOME (the
    metadata DB `airflow_local.run_dag` uses), with the development SimpleAuthManager and the
    users given as {name: (role, password)} (role "" for a user with no role)."""

    users: dict[str, tuple[str, str]]
    directory: Path
    startup_seconds: float = 60.0
    url: str = ""

    def __enter__(self) -> AirflowApiServer:
        from sukvinnofrid import airflow_local

        port = free_port()
        passwords = self.directory / "passwords.json"
        passwords.write_text(json.dumps({name: pw for name, (_, pw) in self.users.items()}))
        env = airflow_local.airflow_environment()
        env.update(
            {
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                    f"{name}:{role}" for name, (role, _) in self.users.items()
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            }
        )
        airflow_local.ensure_metadata_db(env)
        self._log = (self.directory / "api-server.log").open("w")
        self._process = subprocess.Popen(
            [str(Path(sys.executable).with_name("airflow")), "api-server"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.__exit__()
        log = (self.directory / "api-server.log").read_text()
        raise RuntimeError(f"airflow api-server did not start:\n{log[-4000:]}")

    def token(self, user: str) -> str:
        """A JWT from /auth/token, as the REST API's clients get one."""
        response = httpx.post(
            f"{self.url}/auth/token",
            json={"username": user, "password": self.users[user][1]},
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def __exit__(self, *_) -> None:
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._log.close()
