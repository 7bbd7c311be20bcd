"""Settings: environment (``LEADSCORE_…``, nested with ``__``), a ``.env`` file, and a YAML file.

Precedence, highest first: explicit arguments, environment variables, ``.env``, the YAML config
file (``--config`` or ``LEADSCORE_CONFIG``), defaults. Secrets are :class:`SecretStr`: they print
as ``**********`` and we never log or write them.

Examples::

    LEADSCORE_HUBSPOT__ACCESS_TOKEN=pat-...      # nested: section__field
    LEADSCORE_STORE_URL=postgresql+psycopg://leadscore@db/leadscore
"""

from __future__ import annotations

import difflib
import io
import os
import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from scoring.errors import ConfigError, Problem
from scoring.yamlsource import YamlSource

__all__ = ["Settings", "HubSpotSettings", "SalesforceSettings", "load_settings", "SECTIONS", "mask", "describe",
           "Origin"]


_ONLY_GIVEN: ContextVar[bool] = ContextVar("leadscore_settings_only_given", default=False)


class HubSpotSettings(BaseModel):
    access_token: SecretStr | None = Field(None, description="Service Key, legacy private-app token or "
                                           "OAuth access token")
    refresh_token: SecretStr | None = Field(None, description="OAuth refresh token (with client_id/secret)")
    client_id: str | None = Field(None, description="OAuth app client id, to refresh access tokens")
    client_secret: SecretStr | None = Field(None, description="OAuth app client secret")
    base_url: str = Field("https://api.hubapi.com", description="API host; point it at a sandbox or proxy")
    batch_size: int = Field(100, ge=1, le=100, description="Records per batch update call")
    rate_per_10s: int | None = Field(None, ge=1, description="Client-side budget of requests per 10 seconds (default: "
                                     "by auth kind and tier, 80% of HubSpot's limit: 150 on Professional and "
                                     "Enterprise with a Service Key or private app, else 80)")
    api_version: str = Field("2026-09", description="HubSpot's dated API version for every call that has one")
    auth: Literal["service-key", "oauth", "legacy-private-app"] | None = Field(
        None, description="What ACCESS_TOKEN is (default: oauth with REFRESH_TOKEN, else service-key)")
    tier: Literal["free", "starter", "professional", "enterprise"] | None = Field(
        None, description="The portal's highest subscription tier, for the budget and for streams only "
                          "Enterprise gets (default: unknown, the lowest budget; the streams are tried)")
    search_per_second: int = Field(4, ge=1, description="Client-side budget of search requests per second")
    search_limit: int = Field(200, ge=1, le=200, description="Records per search page")
    lookback_s: int = Field(300, ge=0, description="Overlap re-read before the cursor, for late timestamps")
    timeout_s: float = Field(30.0, gt=0, description="Seconds to wait for one HTTP response")
    max_attempts: int = Field(8, ge=1, description="Attempts per call on 429/5xx/timeouts before giving up")
    mapping: Path | None = Field(None, description="Mapping YAML overriding the built-in mappings/hubspot.yaml")
    daily_reserve: int = Field(0, ge=0, description="Daily API calls to leave for other integrations: stop "
                               "when the portal reports no more than this many remaining")


class SalesforceSettings(BaseModel):
    username: str | None = Field(None, description="API user name")
    password: SecretStr | None = Field(None, description="API user password")
    security_token: SecretStr | None = Field(None, description="API user security token")
    domain: str = Field("login", description="'login', 'test' or a My Domain name")
    instance_url: str | None = Field(None, description="Instance URL, with session_id, to skip login")
    session_id: SecretStr | None = Field(None, description="An existing session id (cannot be refreshed)")
    api_version: str = Field("68.0", description="REST API version (checked against the versions the org offers)")
    consumer_key: str | None = Field(None, description="Connected app consumer key (JWT, OAuth, client credentials)")
    consumer_secret: SecretStr | None = Field(None, description="Connected app consumer secret")
    private_key_file: Path | None = Field(None, description="PEM private key for the JWT bearer flow")
    timeout_s: float = Field(30.0, gt=0, description="Seconds to wait for one HTTP response")
    max_attempts: int = Field(8, ge=1, description="Attempts per call on 429/5xx/timeouts before giving up")
    max_api_share: float = Field(0.8, gt=0, le=1, description="Stop before the org's daily API usage passes this share")
    bulk_query_threshold: int = Field(10_000, ge=0, description="Read by a Bulk 2.0 query job above this many rows")
    bulk_write_threshold: int = Field(2_000, ge=0, description="Write by a Bulk 2.0 ingest job above this many records")
    lookback_s: int = Field(300, ge=0, description="Overlap re-read before the cursor, for late timestamps")
    permission_set: str | None = Field("Leadscore", description="Permission set that gets access to leadscore's fields")
    profile: str | None = Field(None, description="Grant field access on this profile instead of a permission set")
    mapping: Path | None = Field(None, description="Mapping YAML overriding the built-in mappings/salesforce.yaml")
    ca_bundle: Path | None = Field(None, description="PEM file of the certificate authorities to trust (a corporate "
                                   "TLS proxy, a local sandbox); default: the system's")
    login_url: str | None = Field(None, description="Send logins here instead of https://DOMAIN.salesforce.com "
                                  "(a gateway, or a local sandbox)")
    bulk_poll_max_s: float = Field(600.0, gt=0, description="Seconds to wait for one Bulk API 2.0 job to finish")


class Settings(BaseSettings):
    """Everything leadscore can be told, each with its environment variable."""

    model_config = SettingsConfigDict(
        env_prefix="LEADSCORE_", env_nested_delimiter="__", env_file=".env",
        extra="forbid", yaml_file=None,
    )

    model: Path | None = Field(None, description="Scoring model YAML (default: the built-in B2B model)")
    predictive_model: Path | None = Field(
        None, description="A model from `leadscore train --store`: the sync also writes its probability and tier")
    store_url: str = Field("sqlite:///leadscore.db", description="SQLAlchemy URL of the state store")
    smtp_host: str | None = Field(None, description="SMTP server for e-mail notifications")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port")
    smtp_from: str = Field("leadscore@localhost", description="Sender address of notification e-mails")
    smtp_user: str | None = Field(None, description="SMTP user name, when the server wants a login")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS")
    webhook_redirect_hosts: list[str] = Field(
        default_factory=list, description="Hosts a notification webhook may redirect to (default: its own host only)")
    action_retry_minutes: float = Field(
        15.0, ge=0, le=1440, description="Minutes before a failed action is retried (doubling, at most a day)")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "warning", description="Log level on stderr (--log-level overrides it)")
    log_format: Literal["text", "json"] = Field("text", description="Log lines as text or one JSON object each")
    hubspot: HubSpotSettings = HubSpotSettings()
    salesforce: SalesforceSettings = SalesforceSettings()
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)  # key path -> where its value came from
    _ignored: list[str] = PrivateAttr(default_factory=list)  # problems in sections the command does not use

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if _ONLY_GIVEN.get():  # load_settings has read and merged the sources itself
            return (init_settings,)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        path = os.environ.get("LEADSCORE_CONFIG")
        if path:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return (*sources, file_secret_settings)


# ---- loading, with where every value came from ---------------------------------------------------

#: what a command can say it uses: a section name, or a top-level setting
SECTIONS: dict[str, tuple[str, ...]] = {
    "hubspot": ("hubspot",), "salesforce": ("salesforce",), "store": ("store_url",),
    "model": ("model", "predictive_model"),
    "smtp": ("smtp_host", "smtp_port", "smtp_from", "smtp_user", "smtp_password", "smtp_starttls"),
    "log": ("log_level", "log_format"),
    "actions": ("webhook_redirect_hosts", "action_retry_minutes"),
}
_PREFIX = "LEADSCORE_"
_NOT_SETTINGS = {"config"}  # LEADSCORE_CONFIG names the file; it is not a setting itself


@dataclass(frozen=True)
class Origin:
    """Where one value came from: ``environment``, ``.env``, ``file`` or ``argument``."""

    kind: str
    name: str  # the variable, or the file
    line: int | None = None

    def __str__(self) -> str:
        if self.kind == "environment":
            return f"environment variable {self.name}"
        if self.kind == "argument":
            return self.name
        return self.name + (f":{self.line}" if self.line else "")


def _is_secret(annotation: Any) -> bool:
    return SecretStr in (getattr(annotation, "__args__", None) or (annotation,))


def _field(path: tuple[str, ...]) -> Any:
    model: Any = Settings
    info = None
    for part in path:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return None
        info = fields[part]
        model = info.annotation
    return info


def mask(path: tuple[str, ...], value: Any) -> str:
    """A value as it may be shown: secrets as ``**********``."""
    info = _field(path)
    if info is not None and _is_secret(info.annotation):
        return "**********" if value not in (None, "") else "(empty)"
    if isinstance(value, SecretStr):
        return "**********"
    return repr(value) if isinstance(value, str) else str(value)


def _expected(info: Any) -> str:
    """What a field accepts, in words: 'an integer from 1 to 100', 'one of text, json'."""
    annotation = info.annotation
    args = [a for a in (getattr(annotation, "__args__", None) or (annotation,)) if a is not type(None)]
    origin = getattr(annotation, "__origin__", None)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in annotation.__args__)
    kinds = {int: "an integer", float: "a number", bool: "true or false", str: "text", Path: "a file path",
             SecretStr: "text"}
    kind = next((kinds[a] for a in args if a in kinds), "a value")
    low = high = None
    low_open = high_open = False
    for m in info.metadata:
        if getattr(m, "ge", None) is not None:
            low = m.ge
        if getattr(m, "gt", None) is not None:
            low, low_open = m.gt, True
        if getattr(m, "le", None) is not None:
            high = m.le
        if getattr(m, "lt", None) is not None:
            high, high_open = m.lt, True
    if low is not None and high is not None and not low_open and not high_open:
        return f"{kind} from {low:g} to {high:g}"
    bounds = []
    if low is not None:
        bounds.append(f"{'above' if low_open else 'at least'} {low:g}")
    if high is not None:
        bounds.append(f"{'below' if high_open else 'at most'} {high:g}")
    return kind + (" " + " and ".join(bounds) if bounds else "")


def _closest(path: tuple[str, ...]) -> str | None:
    """The known key nearest a misspelt one, as a dotted path."""
    parent, name = path[:-1], path[-1]
    if parent:
        info = _field(parent)
        model = info.annotation if info is not None else None
        known = list(getattr(model, "model_fields", {})) if model is not None else []
    else:
        known = list(Settings.model_fields)
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return ".".join((*parent, match[0])) if match else None


def _split_env(name: str) -> tuple[str, ...]:
    return tuple(name[len(_PREFIX):].lower().split("__"))


def _known(path: tuple[str, ...]) -> bool:
    return _field(path) is not None and (len(path) > 1 or path[0] not in ("hubspot", "salesforce"))


class _Layer:
    """Values of one source by key path, with their origins."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, ...], Any] = {}
        self.origins: dict[tuple[str, ...], Origin] = {}
        self.unknown: list[tuple[tuple[str, ...], Origin]] = []

    def put(self, path: tuple[str, ...], value: Any, origin: Origin, strict: bool) -> None:
        if _known(path):
            self.values[path] = value
            self.origins[path] = origin
        elif strict or len(path) > 1 or _closest(path) is not None:
            self.unknown.append((path, origin))


def _env_layer(items: Mapping[str, str | None], kind: str, label: str, lines: Mapping[str, int]) -> _Layer:
    layer = _Layer()
    for name, value in items.items():
        if not name.upper().startswith(_PREFIX) or value is None:
            continue
        path = _split_env(name)
        if len(path) == 1 and path[0] in _NOT_SETTINGS:
            continue
        origin = Origin(kind, name if kind == "environment" else label, lines.get(name))
        # a variable we do not know in the environment may belong to something else; in .env it is ours
        layer.put(path, value, origin, strict=kind != "environment")
    return layer


def _dotenv_layer(path: Path) -> _Layer:
    if not path.is_file():
        return _Layer()
    from dotenv import dotenv_values

    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), None, "", f"cannot read it: {exc}")]) from None
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if m:
            lines.setdefault(m.group(1), number)
    return _env_layer(dotenv_values(stream=io.StringIO(text)), ".env", str(path), lines)


def _yaml_layer(path: Path, named_by: str) -> _Layer:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), None, named_by, "settings file not found")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(str(path), None, named_by, "is a folder, not a settings file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), None, named_by, f"cannot read it: {exc}")]) from None
    src = YamlSource(text, str(path))
    layer = _Layer()
    if src.data is None:
        return layer
    if not isinstance(src.data, dict):
        raise ConfigError([Problem(str(path), 1, "", "a settings file is a mapping of setting: value",
                                   "e.g. store_url: sqlite:///leadscore.db")])

    def walk(data: dict[Any, Any], prefix: tuple[str, ...]) -> None:
        for key, value in data.items():
            p = (*prefix, str(key))
            origin = Origin("file", str(path), src.line_of(p))
            if not prefix and p[0] in ("hubspot", "salesforce"):
                if isinstance(value, dict):
                    walk(value, p)
                elif value is not None:
                    layer.values[p] = value  # validation reports it is not a section
                    layer.origins[p] = origin
                continue
            layer.put(p, value, origin, strict=True)

    walk(src.data, ())
    return layer


def _nest(values: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for path, value in values.items():
        target = doc
        for part in path[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                break
        else:
            target[path[-1]] = value
    return doc


def _section(path: tuple[str, ...]) -> str:
    """The section a key belongs to; a misspelt top-level key belongs to the one of its closest key."""
    close = _closest(path) if len(path) == 1 and path[0] not in Settings.model_fields else None
    first = close.split(".")[0] if close else path[0]
    return next((name for name, keys in SECTIONS.items() if first in keys), first)


def load_settings(config: Path | None = None, uses: Iterable[str] | None = None, *,
                  environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env"),
                  **overrides: Any) -> Settings:
    """Build settings from, highest first: ``overrides``, the environment, ``.env``, the YAML file
    ``config`` (else the one ``LEADSCORE_CONFIG`` names), defaults.

    ``uses`` names the sections the command needs (see :data:`SECTIONS`; default all): a bad or
    unknown setting there raises :class:`ConfigError` with one line per problem, naming its source,
    key path, value (masked when secret) and what is valid; problems elsewhere are left for the
    commands that use them (and for ``leadscore doctor``). A named settings file that does not
    exist is an error. Nothing is written to the environment.
    """
    env = os.environ if environ is None else environ
    layers: list[_Layer] = []  # lowest first
    file_path = config if config is not None else (Path(env["LEADSCORE_CONFIG"]) if env.get("LEADSCORE_CONFIG")
                                                    else None)
    if file_path is not None:
        layers.append(_yaml_layer(file_path, "--config" if config is not None else "LEADSCORE_CONFIG"))
    if dotenv is not None:
        layers.append(_dotenv_layer(dotenv))
    layers.append(_env_layer(env, "environment", "", {}))
    top = _Layer()
    for key, value in overrides.items():
        if value is not None:
            top.put((key,), value, Origin("argument", f"--{key.replace('_', '-')}"), strict=True)
    layers.append(top)
    values: dict[tuple[str, ...], Any] = {}
    origins: dict[tuple[str, ...], Origin] = {}
    unknown: list[tuple[tuple[str, ...], Origin]] = []
    for layer in layers:
        values.update(layer.values)
        origins.update(layer.origins)
        unknown.extend(layer.unknown)
    wanted = set(SECTIONS) if uses is None else set(uses)
    problems: list[tuple[tuple[str, ...], Problem]] = []
    for path, origin in unknown:
        close = _closest(path)
        problems.append((path, Problem(origin.name if origin.kind in ("file", ".env") else str(origin), origin.line,
                                       ".".join(path), "unknown setting",
                                       f"did you mean {close}?" if close else "see `leadscore doctor` for all")))
    settings: Settings | None = None
    for _ in range(2):  # second pass: without the bad values of sections this command does not use
        token = _ONLY_GIVEN.set(True)
        try:
            settings = Settings(**_nest(values))
            break
        except ValidationError as exc:
            for e in exc.errors():
                loc = tuple(str(p) for p in e["loc"])
                path = next((loc[:n] for n in range(len(loc), 0, -1) if loc[:n] in values), loc)
                found = origins.get(path)
                info = _field(path)
                shown = mask(path, values.get(path)) if path in values else "the value"
                message: tuple[str, str | None]
                if info is not None and hasattr(info.annotation, "model_fields"):
                    message = (f"{shown} is not valid here: it is a section",
                               f"set its keys, e.g. {path[0]}.{next(iter(info.annotation.model_fields))}")
                elif info is not None:
                    message = (f"{shown} is not {_expected(info)}", None)
                else:
                    message = (f"{shown} is not valid: {e['msg']}", None)
                where = found.name if found and found.kind in ("file", ".env") else str(found or "settings")
                problems.append((path, Problem(where, found.line if found else None, ".".join(path), *message)))
                values.pop(path, None)
        finally:
            _ONLY_GIVEN.reset(token)
    # a key that belongs to no section (an unknown name in .env or the file) is wrong for every command
    fatal = [p for path, p in problems if _section(path) in wanted or _section(path) not in SECTIONS]
    if fatal or settings is None:
        raise ConfigError(fatal or [p for _, p in problems])
    settings._origins = {".".join(p): str(o) for p, o in origins.items() if p in values}
    settings._ignored = [str(p) for path, p in problems]
    return settings


def describe(settings: Settings) -> list[dict[str, Any]]:
    """Every setting: key path, shown value (secrets masked) and where it came from."""
    rows: list[dict[str, Any]] = []

    def walk(model: BaseModel, prefix: tuple[str, ...]) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            path = (*prefix, name)
            if isinstance(value, BaseModel):
                walk(value, path)
                continue
            key = ".".join(path)
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            rows.append({"key": key, "value": None if raw is None else mask(path, raw if not isinstance(raw, Path)
                                                                            else str(raw)),
                         "source": settings._origins.get(key, "default"),
                         "env": _PREFIX + "__".join(path).upper()})

    walk(settings, ())
    return rows
