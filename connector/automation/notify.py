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
from urllib.parse import urljoin, urlsplit

import requests

from adapters.errors import RetriableAPIError
from adapters.retry import RetryPolicy
from scoring.errors import LeadscoreError

__all__ = ["NotifyError", "SmtpConfig", "Notifier"]


class NotifyError(LeadscoreError):
    """A notification could not be delivered; the message names the setting, not the secret.

    ``delivered`` says what is known of it: False (certainly not delivered: refused, a 429 or 503,
    a bad setting; safe to send again later), or None (unknown: the request went out and the answer
    was lost or was a 5xx that does not say, so sending again could post it twice).
    """

    def __init__(self, message: str, delivered: bool | None = False):
        super().__init__(message)
        self.delivered = delivered


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


#: redirects a webhook may take before it counts as broken (requests' own limit is 30)
MAX_REDIRECTS = 5


class Notifier:
    """Delivers notifications. A webhook is posted without following redirects blindly: a message
    carries names, e-mail addresses and reasons, so a redirect is taken only to the webhook's own host
    or to one of ``redirect_hosts`` (setting ``webhook_redirect_hosts``), never elsewhere."""

    def __init__(self, env: Mapping[str, str] | None = None, session: requests.Session | None = None,
                 timeout_s: float = 10.0, smtp: SmtpConfig | None = None, redirect_hosts: Sequence[str] = (),
                 policy: RetryPolicy | None = None):
        self.env = os.environ if env is None else env
        self.session = session or requests.Session()
        self.timeout_s = timeout_s
        self.smtp = smtp or SmtpConfig.from_env(self.env)
        self.redirect_hosts = frozenset(h.lower() for h in redirect_hosts)
        # a webhook that says "not now" (429, honouring Retry-After: Slack allows about one message a
        # second per channel) or "unavailable" (503) did not take the message: wait and send it again
        self.policy = policy or RetryPolicy(max_attempts=6, base_s=1.0, cap_s=60.0)

    def _post(self, env_name: str, url: str, text: str) -> requests.Response:
        origin = (urlsplit(url).hostname or "").lower()
        for _ in range(MAX_REDIRECTS + 1):
            response = self.session.post(url, json={"text": text}, timeout=self.timeout_s, allow_redirects=False)
            location = response.headers.get("Location")
            if not (response.is_redirect and location):
                return response
            target = urljoin(url, location)
            host = (urlsplit(target).hostname or "").lower()
            if host != origin and host not in self.redirect_hosts:
                raise NotifyError(f"webhook in {env_name} redirected (HTTP {response.status_code}) to another host, "
                                  f"{host}; not followed (allow it with LEADSCORE_WEBHOOK_REDIRECT_HOSTS)")
            if response.status_code in (301, 302, 303):  # requests would turn these into GETs without the message
                raise NotifyError(f"webhook in {env_name} answered HTTP {response.status_code} (moved): "
                                  "set the URL it names")
            url = target
        raise NotifyError(f"webhook in {env_name} redirected more than {MAX_REDIRECTS} times")

    def webhook(self, env_name: str, text: str) -> str:
        url = self.env.get(env_name)
        if not url:
            raise NotifyError(f"the webhook URL is not set: export {env_name}=https://hooks.slack.com/...")

        def attempt() -> requests.Response:
            try:
                response = self._post(env_name, url, text)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if _not_sent(exc):
                    raise RetriableAPIError(f"webhook in {env_name} unreachable: {type(exc).__name__}") from None
                raise NotifyError(f"webhook in {env_name}: the answer was lost ({type(exc).__name__}); whether the "
                                  "message arrived is unknown, so it is not sent again", delivered=None) from None
            except requests.RequestException as exc:
                raise NotifyError(f"webhook in {env_name} unreachable: {type(exc).__name__}") from None
            if response.status_code in (429, 503):
                raise RetriableAPIError(f"webhook in {env_name} answered HTTP {response.status_code}",
                                        response.status_code, _retry_after(response))
            return response

        try:
            response = self.policy.call(attempt)
        except RetriableAPIError as exc:
            raise NotifyError(f"{exc} (tried {self.policy.max_attempts} times)") from None
        if response.status_code >= 500:
            raise NotifyError(f"webhook in {env_name} answered HTTP {response.status_code}: {response.text[:200]}; "
                              "whether it posted the message is unknown, so it is not sent again", delivered=None)
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


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _not_sent(exc: requests.RequestException) -> bool:
    """Whether a failed request certainly never reached the server: the connection was refused or
    could not be made in time (the request is sent only once it is)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc)
    return "NewConnectionError" in text or "ConnectionRefusedError" in text or "NameResolutionError" in text
