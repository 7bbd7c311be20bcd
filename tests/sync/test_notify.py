"""Notifications against local servers started here: a Slack-style webhook and an SMTP server;
and the executor's rule that an interrupted notification is never sent twice."""

from __future__ import annotations

import json
import os
import socketserver
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from connector.automation.execute import execute_actions
from connector.automation.notify import Notifier, NotifyError
from connector.store import Store
from connector.sync.fields import DEFAULT

from .fakes import FakeCRM

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greet, accept one message, remember its text."""

    messages: list[str] = []

    def _say(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self._say("220 test ESMTP")
        while True:
            line = self.rfile.readline().decode().strip()
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 test")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self._say("250 ok")
            elif verb == "DATA":
                self._say("354 go ahead")
                lines = []
                while (data := self.rfile.readline().decode()) not in (".\r\n", ""):
                    lines.append(data)
                type(self).messages.append("".join(lines))
                self._say("250 queued")
            elif verb == "QUIT" or not line:
                self._say("221 bye")
                return
            else:
                self._say("502 not implemented")


@pytest.fixture
def servers() -> Iterator[dict[str, Any]]:
    _Hook.received, _Hook.status, _Smtp.messages = [], 200, []
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    smtp.daemon_threads = True
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (hook, smtp)]
    for t in threads:
        t.start()
    env = {"HOOK": f"http://127.0.0.1:{hook.server_address[1]}/services/T/B/secret",
           "LEADSCORE_SMTP_HOST": "127.0.0.1", "LEADSCORE_SMTP_PORT": str(smtp.server_address[1]),
           "LEADSCORE_SMTP_FROM": "leadscore@example.com", "LEADSCORE_SMTP_PASSWORD": "hunter2"}
    yield {"env": env}
    for s in (hook, smtp):
        s.shutdown()
        s.server_close()


def _plan_notify(store: Store, key: str) -> None:
    store.plan("t", {}, [{"key": key, "lead_id": "L1", "threshold": "mql", "kind": "notify", "seq": 0,
                          "payload": {"webhook_env": "HOOK", "email_to": ["rep@example.com"],
                                      "text": "Ada crossed mql: score 81, A1. Why: pricing +20"}}], {}, NOW)


def test_webhook_and_email_are_delivered_once(servers: dict[str, Any], store: Store) -> None:
    notifier = Notifier(env=servers["env"])
    _plan_notify(store, "k1")
    counts = execute_actions(store, "t", FakeCRM(), DEFAULT, notifier, NOW)
    assert counts == {"done": 1}
    assert _Hook.received == [{"text": "Ada crossed mql: score 81, A1. Why: pricing +20"}]
    (mail,) = _Smtp.messages
    assert "To: rep@example.com" in mail and "Subject: Ada crossed mql: score 81, A1" in mail
    assert execute_actions(store, "t", FakeCRM(), DEFAULT, notifier, NOW) == {}
    assert len(_Hook.received) == 1 and len(_Smtp.messages) == 1


def test_interrupted_notification_is_not_sent_again(servers: dict[str, Any], store: Store) -> None:
    _plan_notify(store, "k2")
    store.mark_action("k2", "running", NOW)  # a process died during the call
    counts = execute_actions(store, "t", FakeCRM(), DEFAULT, Notifier(env=servers["env"]), NOW)
    assert counts == {"uncertain": 1} and _Hook.received == []
    (row,) = store.actions("t")
    assert row.status == "uncertain"


def test_delivery_errors_name_the_setting_never_the_secret(servers: dict[str, Any], store: Store) -> None:
    _Hook.status = 500
    notifier = Notifier(env=servers["env"])
    with pytest.raises(NotifyError, match="webhook in HOOK answered HTTP 500") as caught:
        notifier.webhook("HOOK", "x")
    assert "secret" not in str(caught.value)
    with pytest.raises(NotifyError, match="export MISSING="):
        notifier.webhook("MISSING", "x")
    assert "hunter2" not in repr(notifier.smtp)
    _plan_notify(store, "k3")  # a 500 does not say whether the message was posted: not sent again
    assert execute_actions(store, "t", FakeCRM(), DEFAULT, notifier, NOW) == {"uncertain": 1}
    assert len(_Hook.received) == 2  # the direct call above and this one, nothing more
    no_smtp = Notifier(env={"HOOK": servers["env"]["HOOK"]})
    with pytest.raises(NotifyError, match="LEADSCORE_SMTP_HOST"):
        no_smtp.email(["a@b.c"], "s", "t")


def test_smtp_settings_come_from_a_config_file_too(servers: dict[str, Any], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync command builds its notifier from the settings: SMTP set in the YAML config (not
    in the environment) delivers, and the password stays a secret."""
    from connector.commands.sync import _notifier
    from connector.settings import load_settings

    env = servers["env"]
    for name in list(os.environ):
        if name.startswith("LEADSCORE_"):
            monkeypatch.delenv(name)
    config = tmp_path / "leadscore.yaml"
    config.write_text(f"smtp_host: 127.0.0.1\nsmtp_port: {env['LEADSCORE_SMTP_PORT']}\n"
                      "smtp_from: alerts@example.com\nsmtp_password: hunter2\n")
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = load_settings(config)
    assert "hunter2" not in repr(settings)
    notifier = _notifier(settings)
    assert notifier.smtp is not None and "hunter2" not in repr(notifier.smtp)
    notifier.email(["rep@example.com"], "hello", "text")
    (mail,) = _Smtp.messages
    assert "From: alerts@example.com" in mail and "To: rep@example.com" in mail


class _Redirect(BaseHTTPRequestHandler):
    """Answers every POST with a redirect to ``target`` (a path on this host, or a URL elsewhere)."""

    target = ""
    status = 307

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(type(self).status)
        self.send_header("Location", type(self).target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[HTTPServer, int]:
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def test_a_webhook_is_not_redirected_to_another_host_unless_allowed() -> None:
    hook = type("Hook", (_Hook,), {"received": [], "status": 200})
    elsewhere, hook_port = _serve(hook)
    redirect = type("Redirect", (_Redirect,), {"target": f"http://localhost:{hook_port}/steal"})
    front, port = _serve(redirect)
    try:
        env = {"HOOK": f"http://127.0.0.1:{port}/services/T/B/x"}
        with pytest.raises(NotifyError, match="redirected .*HTTP 307.* to another host, localhost; not followed"):
            Notifier(env=env).webhook("HOOK", "Ann (ann@example.com) crossed mql")
        assert hook.received == []  # nothing reached the other host
        assert Notifier(env=env, redirect_hosts=["LOCALHOST"]).webhook("HOOK", "allowed") == "webhook HOOK: HTTP 200"
        assert hook.received == [{"text": "allowed"}]
        redirect.target = f"http://127.0.0.1:{hook_port}/same-host"  # same host, other port: followed
        Notifier(env=env).webhook("HOOK", "same host")
        assert hook.received[-1] == {"text": "same host"}
        redirect.status, redirect.target = 302, f"http://127.0.0.1:{hook_port}/moved"
        with pytest.raises(NotifyError, match="HTTP 302 \\(moved\\): set the URL it names"):
            Notifier(env=env).webhook("HOOK", "moved")
        redirect.status, redirect.target = 307, "/again"  # a loop on its own host
        with pytest.raises(NotifyError, match="redirected more than 5 times"):
            Notifier(env=env).webhook("HOOK", "loop")
        assert len(hook.received) == 2
    finally:
        for server in (front, elsewhere):
            server.shutdown()
            server.server_close()


class _Limited(BaseHTTPRequestHandler):
    """A Slack-like incoming webhook: one message per ``gap`` seconds, else 429 with Retry-After; the
    first ``unavailable`` requests get a 503; ``drop`` requests are read and then the connection is
    closed without an answer (the message was taken, the response lost)."""

    received: list[str] = []
    gap = 0.5
    unavailable = 0
    drop = 0
    last = 0.0
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        import time

        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["text"]
        cls = type(self)
        with cls.lock:
            if cls.unavailable > 0:
                cls.unavailable -= 1
                status = 503
            elif time.monotonic() - cls.last < cls.gap:
                status = 429
            else:
                cls.last = time.monotonic()
                cls.received.append(body)
                status = 200
                if cls.drop > 0:
                    cls.drop -= 1
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def _plan_many(store: Store, n: int) -> None:
    store.plan("t", {}, [{"key": f"n{i}", "lead_id": f"L{i}", "threshold": "mql", "kind": "notify", "seq": 0,
                          "payload": {"webhook_env": "HOOK", "email_to": [], "text": f"lead {i}"}}
                         for i in range(n)], {}, NOW)


def test_a_rate_limited_or_unavailable_webhook_gets_every_message_once(store: Store) -> None:
    hook = type("Limited", (_Limited,), {"received": [], "unavailable": 2, "drop": 0, "last": 0.0})
    server, port = _serve(hook)
    try:
        _plan_many(store, 4)
        notifier = Notifier(env={"HOOK": f"http://127.0.0.1:{port}/hook"})
        counts = execute_actions(store, "t", FakeCRM(), DEFAULT, notifier, NOW)
    finally:
        server.shutdown()
        server.server_close()
    assert counts == {"done": 4}
    assert sorted(hook.received) == ["lead 0", "lead 1", "lead 2", "lead 3"]  # none lost, none twice
    assert notifier.policy.retries[503] == 2 and notifier.policy.retries[429] >= 1


def test_a_lost_answer_is_uncertain_and_never_sent_twice(store: Store) -> None:
    hook = type("Limited", (_Limited,), {"received": [], "unavailable": 0, "drop": 1, "last": 0.0, "gap": 0.0})
    server, port = _serve(hook)
    try:
        _plan_many(store, 2)
        notifier = Notifier(env={"HOOK": f"http://127.0.0.1:{port}/hook"})
        assert execute_actions(store, "t", FakeCRM(), DEFAULT, notifier, NOW) == {"uncertain": 1, "done": 1}
        assert execute_actions(store, "t", FakeCRM(), DEFAULT, notifier, NOW + timedelta(days=2)) == {}
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(hook.received) == ["lead 0", "lead 1"]


def test_failed_actions_back_off_then_park_and_an_admin_can_retry_them(
        store: Store, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from connector.automation.execute import MAX_ATTEMPTS, retry_delay
    from connector.cli import main

    _plan_many(store, 1)
    refused = Notifier(env={"HOOK": "http://127.0.0.1:9/hook"})  # nothing listens on the discard port
    refused.policy.sleep = lambda s: None
    moment = NOW
    assert execute_actions(store, "t", FakeCRM(), DEFAULT, refused, moment) == {"retry": 1}
    assert execute_actions(store, "t", FakeCRM(), DEFAULT, refused, moment + timedelta(minutes=5)) == {"waiting": 1}
    for attempt in range(2, MAX_ATTEMPTS + 1):
        moment += retry_delay(attempt - 1)
        expected = "parked" if attempt == MAX_ATTEMPTS else "retry"
        assert execute_actions(store, "t", FakeCRM(), DEFAULT, refused, moment) == {expected: 1}
    assert execute_actions(store, "t", FakeCRM(), DEFAULT, refused, moment + timedelta(days=30)) == {}
    (row,) = store.actions("t")
    assert row.status == "parked" and row.attempts == MAX_ATTEMPTS and "unreachable" in (row.result or "")

    assert main(["actions", "--failed", "--store", store_url, "--tenant", "t", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["failed"]
    assert [(x["key"], x["status"], x["attempts"]) for x in listed] == [("n0", "parked", MAX_ATTEMPTS)]
    assert main(["actions", "--retry", "n0", "--store", store_url, "--tenant", "t"]) == 2  # too short a key
    assert "give at least 8 characters" in capsys.readouterr().err
    assert main(["actions", "--retry", "all", "--store", store_url, "--tenant", "t"]) == 0
    assert "will retry on the next sync: 1 action(s)" in capsys.readouterr().out
    hook = type("Hook", (_Hook,), {"received": [], "status": 200})
    server, port = _serve(hook)
    try:
        working = Notifier(env={"HOOK": f"http://127.0.0.1:{port}/hook"})
        assert execute_actions(store, "t", FakeCRM(), DEFAULT, working, moment) == {"done": 1}
    finally:
        server.shutdown()
        server.server_close()
    assert hook.received == [{"text": "lead 0"}]
