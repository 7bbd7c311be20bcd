"""Settings: environment (``LEADSCORE_…``, nested with ``__``), a ``.env`` file, and a YAML file.

Precedence, highest first: explicit arguments, environment variables, ``.env``, the YAML config
file (``--config`` or ``LEADSCORE_CONFIG``), defaults. Secrets are :class:`SecretStr`: they print
as ``**********`` and we never log or write them.

Examples::

    LEADSCORE_HUBSPOT__ACCESS_TOKEN=pat-...      # nested: section__field
    LEADSCORE_STORE_URL=postgresql+psycopg://leadscore@db/leadscore
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

__all__ = ["Settings", "HubSpotSettings", "SalesforceSettings", "load_settings"]


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
    hubspot: HubSpotSettings = HubSpotSettings()
    salesforce: SalesforceSettings = SalesforceSettings()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        path = os.environ.get("LEADSCORE_CONFIG")
        if path:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return (*sources, file_secret_settings)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; ``config`` names a YAML file (else ``LEADSCORE_CONFIG``, if set)."""
    if config is not None:
        os.environ["LEADSCORE_CONFIG"] = str(config)
    return Settings(**overrides)
