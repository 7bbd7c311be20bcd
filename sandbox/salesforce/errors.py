"""The errors the sandbox answers with, in the shapes Salesforce uses.

REST errors are a JSON list of ``{"message", "errorCode"}`` objects (plus ``fields`` for
field-level problems); per-record save errors inside SaveResults use ``statusCode`` instead.
See "Status Codes and Error Responses" in the REST API Developer Guide.

    ApiError            a whole request fails (status + one error body)
    SaveError           one record of a write fails (the batch goes on)
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ApiError", "SaveError", "invalid_field", "malformed_query", "not_found"]


@dataclass(slots=True)
class SaveError(Exception):
    """One record could not be saved: becomes ``errors[]`` of a SaveResult."""

    status_code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def as_save_error(self) -> dict[str, object]:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}

    def as_rest_error(self) -> list[dict[str, object]]:
        return [{"message": self.message, "errorCode": self.status_code, "fields": self.fields}]


@dataclass(slots=True)
class ApiError(Exception):
    """A request-level failure: HTTP status and the REST error body."""

    status: int
    error_code: str
    message: str
    fields: list[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> list[dict[str, object]]:
        out: dict[str, object] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            out["fields"] = self.fields
        return [out]

    def __str__(self) -> str:
        return f"{self.status} {self.error_code}: {self.message}"


def malformed_query(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", message)


def invalid_field(message: str) -> ApiError:
    return ApiError(400, "INVALID_FIELD", message)


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)
