"""Notifications against local servers started here: a Slack-style webhook and an SMTP server;
and the executor's rule that an interrupted notification is never sent twice."""

from __future__ import annotations

import json
import os
import socketserver
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
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
    _plan_notify(store, "k3")
    assert execute_actions(store, "t", FakeCRM(), DEFAULT, notifier, NOW) == {"failed": 1}
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
