"""Notifications: a Slack-compatible incoming webhook (JSON ``{"text": ...}``) and SMTP e-mail.

Both destinations are secrets or close to it (a webhook URL carries its token), so the action
names an environment variable, never the URL, and neither the URL nor a password is ever printed
or logged; errors name the variable instead.

SMTP settings are the ``smtp_*`` settings (:mod:`connector.settings`: ``LEADSCORE_SMTP_HOST``,
``_PORT`` (25), ``_FROM``, ``_USER``, ``_PASSWORD``, ``_STARTTLS``, in the environment, ``.env``
or the YAML config); a Notifier made without them reads those variables from the environment.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

import requests

from scoring.errors import LeadscoreError

__all__ = ["NotifyError", "SmtpConfig", "Notifier"]


class NotifyError(LeadscoreError):
    """A notification could not be delivered; the message names the setting, not the secret."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    sender: str = "leadscore@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        return f"SmtpConfig(host={self.host!r}, port={self.port}, sender={self.sender!r}, user={self.user!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmtpConfig | None:
        host = env.get("LEADSCORE_SMTP_HOST")
        if not host:
            return None
        return cls(host=host, port=int(env.get("LEADSCORE_SMTP_PORT", "25")),
                   sender=env.get("LEADSCORE_SMTP_FROM", "leadscore@localhost"), user=env.get("LEADSCORE_SMTP_USER"),
                   password=env.get("LEADSCORE_SMTP_PASSWORD"),
                   starttls=env.get("LEADSCORE_SMTP_STARTTLS", "false").lower() in ("1", "true", "yes"))


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None, session: requests.Session | None = None,
                 timeout_s: float = 10.0, smtp: SmtpConfig | None = None):
        self.env = os.environ if env is None else env
        self.session = session or requests.Session()
        self.timeout_s = timeout_s
        self.smtp = smtp or SmtpConfig.from_env(self.env)

    def webhook(self, env_name: str, text: str) -> str:
        url = self.env.get(env_name)
        if not url:
            raise NotifyError(f"the webhook URL is not set: export {env_name}=https://hooks.slack.com/...")
        try:
            response = self.session.post(url, json={"text": text}, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise NotifyError(f"webhook in {env_name} unreachable: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise NotifyError(f"webhook in {env_name} answered HTTP {response.status_code}: {response.text[:200]}")
        return f"webhook {env_name}: HTTP {response.status_code}"

    def email(self, to: Sequence[str], subject: str, text: str) -> str:
        if self.smtp is None:
            raise NotifyError("e-mail notification needs LEADSCORE_SMTP_HOST (and _PORT, _FROM, _USER, _PASSWORD)")
        message = EmailMessage()
        message["From"] = self.smtp.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message.set_content(text)
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.timeout_s) as smtp:
                if self.smtp.starttls:
                    smtp.starttls()
                if self.smtp.user and self.smtp.password:
                    smtp.login(self.smtp.user, self.smtp.password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"e-mail via {self.smtp.host}:{self.smtp.port} failed: {type(exc).__name__}: "
                              f"{str(exc)[:200]}") from None
        return f"e-mail to {len(to)} recipient(s)"
