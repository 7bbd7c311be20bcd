"""Handlers outside the CRM objects: web analytics events, forms and their submissions,
marketing email events, sequences, token introspection and account details.

Endpoints (HubSpot's public docs):

- ``GET /events/v3/events`` — event occurrences for a CRM record (page views, custom events);
  https://developers.hubspot.com/docs/guides/api/analytics-and-events/event-analytics.
  It does not carry marketing email events, which live in the email events API below.
- ``GET /marketing/v3/forms`` and ``GET /form-integrations/v1/submissions/forms/{form_guid}``
  (newest first, ``limit`` ≤ 50, ``after`` paging);
  https://developers.hubspot.com/docs/api-reference/legacy/marketing/forms/v1/get-form-integrations-v1-submissions-forms-form_guid
- ``GET /email/public/v1/events`` (``recipient``, ``eventType``, ``startTimestamp``,
  ``endTimestamp``, ``offset`` → ``{hasMore, offset, events}``; scope ``content``);
  https://developers.hubspot.com/docs/api-reference/legacy/email-analytics-v1/guide
- ``POST /automation/v4/sequences/enrollments?userId=`` with ``contactId``, ``sequenceId``,
  ``senderEmail`` → ``{id, toEmail, enrolledAt, updatedAt}``;
  https://developers.hubspot.com/docs/api-reference/legacy/automation/sequences/enroll-contact
- ``POST /oauth/v2/private-apps/get/access-token-info`` (``tokenKey``) and
  ``GET /oauth/v1/access-tokens/{token}`` report a token's scopes;
  https://developers.hubspot.com/docs/api/private-apps
"""

from __future__ import annotations

import secrets
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.http import correlation_id, json_response
from sandbox.hubspot.crm import body_of
from sandbox.hubspot.errors import HubSpotError, error_body, not_found, validation
from sandbox.hubspot.portal import Portal
from sandbox.hubspot.schema import iso_ms, object_type, parse_time_ms

__all__ = ["EMAIL_EVENT_TYPES", "ROUTES"]

EMAIL_EVENT_TYPES = ("SENT", "DELIVERED", "OPEN", "CLICK", "BOUNCE", "STATUSCHANGE",
                     "SPAMREPORT", "DROPPED", "DEFERRED", "PROCESSED", "FORWARD", "PRINT")


def _int_arg(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation(f"{name} must be an integer, was {raw!r}") from None
    return min(max(value, lo), hi)


def _time_arg(request: Request, name: str) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    ms = parse_time_ms(raw)
    if ms is None:
        raise validation(f"{name} must be an ISO 8601 datetime or epoch milliseconds, was {raw!r}")
    return ms


# -- web analytics -------------------------------------------------------------------------


def web_events(portal: Portal, request: Request) -> Response:
    raw_type = request.args.get("objectType")
    if not raw_type:
        raise validation("objectType is required")
    t = object_type(raw_type)
    limit = _int_arg(request, "limit", 100, 1, 1000)
    offset = _int_arg(request, "after", 0, 0, 1 << 62)
    object_id = request.args.get("objectId")
    if object_id is not None and not object_id.isdigit():
        raise validation(f"objectId must be numeric, was {object_id!r}")
    event_type = request.args.get("eventType")
    newest_first = request.args.get("sort", "occurredAt").startswith("-")
    log = portal.web_events
    if t is None or t.name != "contacts" or (
            event_type is not None and event_type not in portal.web_event_types):
        return json_response({"results": []})
    code = portal.web_event_types.index(event_type) if event_type else None
    positions = log.select(int(object_id) if object_id else None,
                           _time_arg(request, "occurredAfter"),
                           _time_arg(request, "occurredBefore"), newest_first, code)
    chosen = positions[offset:offset + limit]
    results = []
    for pos, row in zip(chosen.tolist(), log.rows(chosen), strict=True):
        props = {k: str(v) for k, v in row.items()
                 if v is not None and k not in ("key", "time_ms", "id")}
        results.append({
            "objectType": "CONTACT", "objectId": str(row["key"]),
            "eventType": portal.web_event_types[int(log.codes[pos])],
            "occurredAt": iso_ms(row["time_ms"]),
            "id": str(row.get("id") or f"{row['key']}-{row['time_ms']}"), "properties": props,
        })
    body: dict[str, Any] = {"results": results}
    if offset + limit < len(positions):
        body["paging"] = {"next": {"after": str(offset + limit), "link": ""}}
    return json_response(body)


def web_event_types(portal: Portal, request: Request) -> Response:
    return json_response({"eventTypes": list(portal.web_event_types)})


# -- forms ---------------------------------------------------------------------------------


def list_forms(portal: Portal, request: Request) -> Response:
    """Without ``formTypes`` only ``hubspot`` forms are listed; ``formTypes=all`` lists every kind
    (https://developers.hubspot.com/docs/api-reference/latest/marketing/forms, GET /marketing/v3/forms)."""
    limit = _int_arg(request, "limit", 20, 1, 100)
    after = _int_arg(request, "after", 0, 0, 1 << 62)
    kinds = set(request.args.getlist("formTypes")) or {"hubspot"}
    forms = [f for f in portal.forms if "all" in kinds or f.get("formType", "hubspot") in kinds]
    page = forms[after:after + limit]
    body: dict[str, Any] = {"results": page}
    if after + limit < len(forms):
        body["paging"] = {"next": {"after": str(after + limit), "link": ""}}
    return json_response(body)


def form_submissions(portal: Portal, request: Request, formGuid: str) -> Response:
    index = next((i for i, f in enumerate(portal.forms) if f["id"] == formGuid), None)
    if index is None:
        raise not_found(f"Form {formGuid} does not exist")
    limit = _int_arg(request, "limit", 20, 1, 50)
    offset = _int_arg(request, "after", 0, 0, 1 << 62)
    log = portal.form_submissions
    positions = log.select(index, newest_first=True)
    contacts = portal.stores["contacts"]
    results = []
    with portal.lock:
        for row in log.rows(positions[offset:offset + limit]):
            contact = contacts.records.get(int(row["contact_id"]))
            values = []
            if contact is not None:
                for name in ("email", "firstname", "lastname", "company", "jobtitle"):
                    if contact.props.get(name):
                        values.append({"name": name, "value": contact.props[name]})
            results.append({"conversionId": row.get("conversion_id") or "",
                            "submittedAt": row["time_ms"], "values": values,
                            "pageUrl": row.get("page_url") or ""})
    body: dict[str, Any] = {"results": results}
    if offset + limit < len(positions):
        body["paging"] = {"next": {"after": str(offset + limit), "link": ""}}
    return json_response(body)


# -- marketing email events ----------------------------------------------------------------


def email_events(portal: Portal, request: Request) -> Response:
    limit = _int_arg(request, "limit", 1000, 1, 1000)
    offset = _int_arg(request, "offset", 0, 0, 1 << 62)
    event_type = request.args.get("eventType")
    if event_type is not None and event_type not in EMAIL_EVENT_TYPES:
        raise validation(f"Unknown eventType {event_type!r}; expected one of {EMAIL_EVENT_TYPES}")
    contacts = portal.stores["contacts"]
    key = None
    recipient = request.args.get("recipient")
    if recipient:
        with portal.lock:
            contact = contacts.find_unique("email", recipient)
        if contact is None:
            return json_response({"hasMore": False, "offset": str(offset), "events": []})
        key = contact.id
    log = portal.email_events
    positions = log.select(key, _time_arg(request, "startTimestamp"),
                           _time_arg(request, "endTimestamp"), newest_first=True,
                           code=EMAIL_EVENT_TYPES.index(event_type) if event_type else None)
    campaign = request.args.get("campaignId")
    events = []
    with portal.lock:
        for row in log.rows(positions[offset:offset + limit]):
            if campaign and str(row.get("campaign_id")) != campaign:
                continue
            contact = contacts.records.get(row["key"])
            event = {
                "id": row.get("id") or f"{row['key']}-{row['time_ms']}",
                "created": row["time_ms"], "type": row.get("type"),
                "recipient": contact.props.get("email", "") if contact else "",
                "portalId": portal.portal_id, "appId": 113, "appName": "BatchEmail",
                "emailCampaignId": row.get("campaign_id"),
                "sentBy": {"id": row.get("sent_by") or "", "created": row["time_ms"]},
            }
            if row.get("url"):
                event["url"] = row["url"]
            if row.get("type") == "BOUNCE":
                event["category"] = "HARD_BOUNCE"
            if row.get("type") == "STATUSCHANGE":
                event.update({"source": "SOURCE_RECIPIENT", "subscriptions": [],
                              "portalSubscriptionStatus": "UNSUBSCRIBED"})
            events.append(event)
    nxt = offset + limit
    return json_response({"hasMore": nxt < len(positions), "offset": str(nxt), "events": events})


# -- sequences -----------------------------------------------------------------------------


def _user_id(request: Request) -> str:
    user_id = request.args.get("userId")
    if not user_id:
        raise validation("userId is required as a query parameter")
    return user_id


def list_sequences(portal: Portal, request: Request) -> Response:
    _user_id(request)
    return json_response({"total": len(portal.sequences),
                          "results": list(portal.sequences.values())})


def get_sequence(portal: Portal, request: Request, sequenceId: str) -> Response:
    _user_id(request)
    seq = portal.sequences.get(sequenceId)
    if seq is None:
        raise not_found(f"Sequence {sequenceId} does not exist")
    return json_response(seq)


def enroll(portal: Portal, request: Request) -> Response:
    user_id = _user_id(request)
    body = body_of(request)
    missing = [k for k in ("contactId", "sequenceId", "senderEmail") if not body.get(k)]
    if missing:
        raise validation(f"Missing required fields: {missing}")
    seq = portal.sequences.get(str(body["sequenceId"]))
    if seq is None:
        raise not_found(f"Sequence {body['sequenceId']} does not exist")
    with portal.lock:
        owner = next((o for o in portal.owners if str(o["userId"]) == user_id), None)
        if owner is None or owner["email"].lower() != str(body["senderEmail"]).lower():
            raise validation(f"senderEmail {body['senderEmail']} is not a connected inbox of "
                             f"user {user_id}")
        contact_id = str(body["contactId"])
        contact = portal.stores["contacts"].get(int(contact_id)) if contact_id.isdigit() else None
        if contact is None:
            raise validation(f"Contact {contact_id} does not exist")
        if contact.id in portal.enrollments:
            raise HubSpotError(409, error_body(
                "CONFLICT", f"Contact {contact_id} is already enrolled in sequence "
                            f"{portal.enrollments[contact.id]['sequenceId']}."))
        now = iso_ms(portal.now_ms())
        enrollment = {"id": str(700_000 + len(portal.enrollments) + 1),
                      "toEmail": contact.props.get("email", ""), "enrolledAt": now,
                      "updatedAt": now, "sequenceId": seq["id"], "sequenceName": seq["name"],
                      "enrolledBy": owner["userId"], "enrolledByEmail": owner["email"]}
        portal.enrollments[contact.id] = enrollment
    return json_response({k: enrollment[k] for k in ("id", "toEmail", "enrolledAt",
                                                     "updatedAt")})


def enrollment_status(portal: Portal, request: Request, contactId: str) -> Response:
    with portal.lock:
        enrollment = portal.enrollments.get(int(contactId)) if contactId.isdigit() else None
    if enrollment is None:
        raise not_found(f"Contact {contactId} is not enrolled in a sequence")
    return json_response(enrollment)


# -- tokens and account --------------------------------------------------------------------


def private_app_token_info(portal: Portal, request: Request) -> Response:
    token = portal.tokens.get(str(body_of(request).get("tokenKey", "")))
    # Service Keys are static keys "subject to the same limits as privately distributed apps"
    # (https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/account-service-keys);
    # that this endpoint describes them too is unconfirmed, and the adapter copes when it says nothing.
    if token is None or token.kind not in ("private", "service-key"):
        raise validation("tokenKey is not a valid private app access token")
    return json_response({"userId": token.user_id, "hubId": portal.portal_id,
                          "appId": token.app_id, "scopes": sorted(token.scopes)})


def oauth_introspect(portal: Portal, request: Request) -> Response:
    """``POST /oauth/{version}/token/introspect`` (form: client_id, client_secret, token): ``active``
    and the token's metadata; it replaces ``GET /oauth/v1/access-tokens/{token}``
    (https://developers.hubspot.com/docs/api-reference/latest/authentication/oauth-tokens/token-introspect)."""
    form = request.form
    if (form.get("client_id") != portal.oauth_client_id
            or form.get("client_secret") != portal.oauth_client_secret):
        raise HubSpotError(400, {"status": "BAD_CLIENT_ID", "message": "missing or unknown client id or secret",
                                 "correlationId": correlation_id()})
    info = portal.tokens.get(form.get("token", ""))
    if info is None or (info.expires_at_ms is not None and info.expires_at_ms <= portal.now_ms()):
        return json_response({"active": False})
    expires_in = (0 if info.expires_at_ms is None
                  else max(0, (info.expires_at_ms - portal.now_ms()) // 1000))
    return json_response({"active": True, "token_type": "access_token", "client_id": portal.oauth_client_id,
                          "hub_id": portal.portal_id, "app_id": info.app_id, "user_id": info.user_id,
                          "scopes": sorted(info.scopes), "expires_in": expires_in})


def oauth_token_info(portal: Portal, request: Request, token: str) -> Response:
    info = portal.tokens.get(token)
    if info is None:
        raise HubSpotError(404, error_body("OBJECT_NOT_FOUND", "Token not found"))
    expires_in = (0 if info.expires_at_ms is None
                  else max(0, (info.expires_at_ms - portal.now_ms()) // 1000))
    return json_response({"token": token, "user": "sandbox@example.com",
                          "hub_domain": "sandbox.hubspot.local", "scopes": sorted(info.scopes),
                          "hub_id": portal.portal_id, "app_id": info.app_id,
                          "expires_in": expires_in, "user_id": info.user_id,
                          "token_type": "access"})


def oauth_token(portal: Portal, request: Request) -> Response:
    """The refresh-token grant (https://developers.hubspot.com/docs/api/oauth/tokens)."""
    form = request.form
    if form.get("grant_type") != "refresh_token":
        raise HubSpotError(400, {"status": "BAD_GRANT_TYPE",
                                 "message": "grant_type must be refresh_token in the sandbox",
                                 "correlationId": correlation_id()})
    if (form.get("client_id") != portal.oauth_client_id
            or form.get("client_secret") != portal.oauth_client_secret):
        raise HubSpotError(400, {"status": "BAD_CLIENT_ID",
                                 "message": "missing or unknown client id or secret",
                                 "correlationId": correlation_id()})
    refresh = form.get("refresh_token", "")
    if refresh not in portal.refresh_tokens:
        raise HubSpotError(400, {"status": "BAD_REFRESH_TOKEN",
                                 "message": "missing or unknown refresh token",
                                 "correlationId": correlation_id()})
    token = portal.add_token(f"CO{secrets.token_hex(24)}", scopes=portal.oauth_scopes, kind="oauth",
                             expires_in_s=portal.oauth_ttl_s)
    # hub_id and scopes are in the answer since 2025-08-18
    # (https://developers.hubspot.com/changelog/additional-details-returned-when-generating-oauth-access-tokens)
    return json_response({"token_type": "bearer", "refresh_token": refresh, "hub_id": portal.portal_id,
                          "scopes": sorted(token.scopes),
                          "access_token": token.value, "expires_in": int(portal.oauth_ttl_s)})


def account_details(portal: Portal, request: Request) -> Response:
    return json_response({"portalId": portal.portal_id, "accountType": "STANDARD",
                          "timeZone": "Etc/UTC", "companyCurrency": "USD",
                          "additionalCurrencies": [], "utcOffset": "+00:00",
                          "utcOffsetMilliseconds": 0, "uiDomain": "app.hubspot.com",
                          "dataHostingLocation": "na1"})


def daily_usage(portal: Portal, request: Request) -> Response:
    quota = request.environ["sandbox.hubspot.app"].daily_for(request)
    return json_response([{"name": "api-calls-daily", "usageLimit": quota.total,
                           "currentUsage": quota.used, "collectedAt": portal.now_ms(),
                           "fetchStatus": "SUCCESS", "resetsAt": None}])


def new_form_id() -> str:
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


ROUTES: list[tuple[str, str, Any, str]] = [
    ("GET", "/events/v3/events", web_events, "events"),
    ("GET", "/events/v3/events/event-types", web_event_types, "events"),
    ("GET", "/marketing/v3/forms", list_forms, "forms"),
    ("GET", "/form-integrations/v1/submissions/forms/<formGuid>", form_submissions, "forms"),
    ("GET", "/email/public/v1/events", email_events, "content"),
    ("GET", "/automation/v4/sequences", list_sequences, "sequences_read"),
    ("GET", "/automation/v4/sequences/<sequenceId>", get_sequence, "sequences_read"),
    ("POST", "/automation/v4/sequences/enrollments", enroll, "sequences_write"),
    ("GET", "/automation/v4/sequences/enrollments/contact/<contactId>", enrollment_status,
     "sequences_read"),
    ("POST", "/oauth/v2/private-apps/get/access-token-info", private_app_token_info, "public"),
    ("GET", "/oauth/v1/access-tokens/<token>", oauth_token_info, "public"),
    ("POST", "/oauth/v1/token", oauth_token, "public"),
    ("POST", "/oauth/v3/token/introspect", oauth_introspect, "public"),
    ("GET", "/account-info/v3/details", account_details, "any"),
    ("GET", "/account-info/v3/api-usage/daily/private-apps", daily_usage, "any"),
]
