"""CRM v3 handlers: objects (basic, batch, search), properties and groups, owners, associations v4.

Each handler takes the portal, the request and the path arguments and returns a Response, or
raises :class:`~sandbox.hubspot.errors.HubSpotError`. Batch semantics follow HubSpot's:
a validation error anywhere fails the whole batch with 400; a batch read or update naming
records that do not exist answers 207 with the rest done and an ``errors[]`` entry carrying
``context.ids`` (the client returns, not raises, a 207).
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response
from sandbox.hubspot.associations import ROUTES as ASSOCIATION_ROUTES
from sandbox.hubspot.errors import HubSpotError, error_body, not_found, validation
from sandbox.hubspot.portal import Portal
from sandbox.hubspot.schema import iso_ms, object_type, property_definition
from sandbox.hubspot.search import MAX_RESULTS, execute, parse_request
from sandbox.hubspot.store import ObjectStore

__all__ = ["ROUTES"]


def body_of(request: Request) -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise validation("Invalid input JSON on line 1: the request body must be JSON")
    return body


def _props_param(request: Request) -> list[str] | None:
    names = [n for v in request.args.getlist("properties") for n in v.split(",") if n]
    return names or None


def _inputs(portal: Portal, body: Any, cap: int) -> list[Any]:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        raise validation("Invalid input JSON: inputs is required and must be a list")
    if len(inputs) > cap:
        raise validation(f"Batch input size {len(inputs)} exceeds the maximum of {cap}.",
                         context={"maxInputs": [str(cap)]})
    return inputs


def _batch(results: list[dict[str, Any]], errors: list[dict[str, Any]], started: int,
           ok_status: int = 200) -> Response:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results,
                            "startedAt": iso_ms(started), "completedAt": iso_ms(started)}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return json_response(body, 207)
    return json_response(body, ok_status)


def _not_found_error(store: ObjectStore, ids: list[str], action: str) -> dict[str, Any]:
    return {
        "status": "error", "category": "OBJECT_NOT_FOUND",
        "message": f"Could not {action} some {store.type.label} objects, they may be deleted or "
                   f"not exist. Check that ids are valid.",
        "context": {"ids": ids}, "errors": [], "links": {},
    }


# -- objects -------------------------------------------------------------------------------


def list_objects(portal: Portal, request: Request, objectType: str) -> Response:
    """A page of live records in id order; with ``archived=true``, of archived ones only."""
    store = portal.store(objectType)
    limit = min(max(int(request.args.get("limit", 10)), 1), 100)
    after = int(request.args.get("after", 0) or 0)
    names = _props_param(request)
    archived = request.args.get("archived", "false").lower() == "true"
    with portal.lock:
        results: list[dict[str, Any]] = []
        last = None
        for id_ in (store.archived_from(after) if archived else store.ids_from(after)):
            if len(results) == limit:
                last = results[-1]["id"]
                break
            results.append(portal.render(store.type, store.records[id_], names))
    body: dict[str, Any] = {"results": results}
    if last is not None:
        body["paging"] = {"next": {"after": last, "link": f"?after={last}"}}
    return json_response(body)


def get_object(portal: Portal, request: Request, objectType: str, objectId: str) -> Response:
    store = portal.store(objectType)
    with portal.lock:
        rec = portal.lookup(store, objectId, request.args.get("idProperty"))
        if rec is None:
            raise not_found()
        out = portal.render(store.type, rec, _props_param(request))
        wanted = [n for v in request.args.getlist("associations") for n in v.split(",") if n]
        if wanted:
            out["associations"] = _v3_associations(portal, store.type.name, rec.id, wanted)
        return json_response(out)


def archive_object(portal: Portal, request: Request, objectType: str, objectId: str) -> Response:
    """``DELETE``: move the record to the recycling bin; 204 without a body, 404 when there is no
    live record by that id (never created, or archived already)."""
    store = portal.store(objectType)
    with portal.lock:
        rec = portal.lookup(store, objectId, None)
        if rec is None:
            raise not_found()
        portal.archive(store, rec)
    return Response(status=204)


def merge_objects(portal: Portal, request: Request, objectType: str) -> Response:
    """``POST /crm/v3/objects/{type}/merge`` ``{primaryObjectId, objectIdToMerge}``: the primary,
    as it is after the merge."""
    store = portal.store(objectType)
    body = body_of(request)
    primary_id, other_id = str(body.get("primaryObjectId") or ""), str(body.get("objectIdToMerge") or "")
    if not primary_id or not other_id:
        raise validation("Invalid input JSON: primaryObjectId and objectIdToMerge are required")
    with portal.lock:
        primary, other = portal.lookup(store, primary_id, None), portal.lookup(store, other_id, None)
        if primary is None or other is None:
            raise not_found()
        if primary.id == other.id:
            raise validation(f"Cannot merge {store.type.label} {primary_id} with itself")
        portal.merge(store, other, primary)
        names = [*store.type.default_properties, "hs_merged_object_ids"]
        return json_response(portal.render(store.type, primary, names))


def _v3_associations(portal: Portal, frm: str, id_: int, wanted: list[str]
                     ) -> dict[str, Any]:
    """The ``associations`` block of a v3 GET: ``{"companies": {"results": [{id, type}]}}``."""
    out: dict[str, Any] = {}
    for name in wanted:
        t = object_type(name)
        if t is None:
            continue
        results = []
        for to_id in portal.associated(frm, t.name, id_):
            for spec in portal.association_types(frm, t.name, id_, to_id):
                label = f"{object_type(frm).singular}_to_{t.singular}"  # type: ignore[union-attr]
                results.append({"id": str(to_id), "type": label if spec["label"] else
                                f"{label}_unlabeled" if t.name == "companies" else label})
        if results:
            out[t.name] = {"results": results}
    return out


def create_object(portal: Portal, request: Request, objectType: str) -> Response:
    store = portal.store(objectType)
    body = body_of(request)
    props = portal.clean_properties(store.type, body.get("properties") or {})
    with portal.lock:
        links = _associations_in(portal, store, body.get("associations") or [])
        rec = portal.create(store, props)
        for to_type, to_id in links:
            portal.associate(store.type.name, rec.id, to_type, to_id)
        return json_response(portal.render(store.type, rec, list(props)), 201)


def _associations_in(portal: Portal, store: ObjectStore, raw: list[Any]) -> list[tuple[str, int]]:
    """The ``associations`` of a create request, checked before anything is written."""
    links = []
    for a in raw:
        to_id = str((a.get("to") or {}).get("id", ""))
        type_ids = {t.get("associationTypeId") for t in a.get("types") or []}
        to_type = next((to for (frm, to), specs in _association_specs().items()
                        if frm == store.type.name and type_ids & {s for s, _ in specs}), None)
        if to_type is None:
            raise validation(f"Invalid association type ids {sorted(map(str, type_ids))} from "
                             f"{store.type.name}")
        target = portal.store(to_type)
        if not to_id.isdigit() or target.get(int(to_id)) is None:
            raise validation(f"{target.type.label}={to_id} is not valid", )
        links.append((to_type, int(to_id)))
    return links


def _association_specs() -> dict[tuple[str, str], list[tuple[int, str | None]]]:
    from sandbox.hubspot.portal import ASSOCIATION_TYPES

    return ASSOCIATION_TYPES


def update_object(portal: Portal, request: Request, objectType: str, objectId: str) -> Response:
    store = portal.store(objectType)
    body = body_of(request)
    props = portal.clean_properties(store.type, body.get("properties") or {})
    with portal.lock:
        rec = portal.lookup(store, objectId, request.args.get("idProperty"))
        if rec is None:
            raise not_found()
        portal.update(store, rec, props)
        return json_response(portal.render(store.type, rec, list(props)))


def batch_read(portal: Portal, request: Request, objectType: str) -> Response:
    store = portal.store(objectType)
    body = body_of(request)
    inputs = _inputs(portal, body, portal_cap(request))
    names = list(body.get("properties") or []) or None
    id_property = body.get("idProperty")
    started = portal.now_ms()
    with portal.lock:
        results, missing = [], []
        for item in inputs:
            key = str(item.get("id", ""))
            rec = portal.lookup(store, key, id_property)
            if rec is None:
                missing.append(key)
            else:
                results.append(portal.render(store.type, rec, names))
    errors = [_not_found_error(store, missing, "get")] if missing else []
    return _batch(results, errors, started)


def batch_archive(portal: Portal, request: Request, objectType: str) -> Response:
    """Archive up to the batch cap of records by id; 204 without a body. Ids with no live record
    are passed over (HubSpot documents no error answer for them)."""
    store = portal.store(objectType)
    inputs = _inputs(portal, body_of(request), portal_cap(request))
    if not all(isinstance(i, dict) and i.get("id") for i in inputs):
        raise validation('Invalid input JSON: every input must be an object with an "id"')
    with portal.lock:
        for item in inputs:
            rec = portal.lookup(store, str(item["id"]), None)
            if rec is not None:
                portal.archive(store, rec)
    return Response(status=204)


def batch_create(portal: Portal, request: Request, objectType: str) -> Response:
    store = portal.store(objectType)
    inputs = _inputs(portal, body_of(request), portal_cap(request))
    cleaned = [portal.clean_properties(store.type, i.get("properties") or {}) for i in inputs]
    started = portal.now_ms()
    with portal.lock:
        links = [_associations_in(portal, store, i.get("associations") or []) for i in inputs]
        seen: dict[str, set[str]] = {u: set() for u in store.type.unique_properties}
        for props in cleaned:
            for u, values in seen.items():
                v = (props.get(u) or "").lower()
                existing = store.find_unique(u, v) if v else None
                if existing is not None or (v and v in values):
                    raise HubSpotError(409, error_body(
                        "CONFLICT", f"{store.type.singular.title()} already exists. Existing ID: "
                                    f"{existing.id if existing else 'in this batch'}"))
                values.add(v)
        results = []
        for props, link in zip(cleaned, links, strict=True):
            rec = portal.create(store, props)
            for to_type, to_id in link:
                portal.associate(store.type.name, rec.id, to_type, to_id)
            results.append(portal.render(store.type, rec, list(props)))
    return _batch(results, [], started, 201)


def batch_update(portal: Portal, request: Request, objectType: str) -> Response:
    store = portal.store(objectType)
    body = body_of(request)
    inputs = _inputs(portal, body, portal_cap(request))
    keys = [str(i.get("id", "")) for i in inputs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise validation(f"Duplicate IDs found in batch input: {dupes}. IDs must be unique")
    cleaned = [portal.clean_properties(store.type, i.get("properties") or {}) for i in inputs]
    started = portal.now_ms()
    with portal.lock:
        results, missing = [], []
        for item, key, props in zip(inputs, keys, cleaned, strict=True):
            rec = portal.lookup(store, key, item.get("idProperty") or body.get("idProperty"))
            if rec is None:
                missing.append(key)
                continue
            portal.update(store, rec, props)
            results.append(portal.render(store.type, rec, list(props)))
    errors = [_not_found_error(store, missing, "update")] if missing else []
    return _batch(results, errors, started)


def batch_upsert(portal: Portal, request: Request, objectType: str) -> Response:
    store = portal.store(objectType)
    inputs = _inputs(portal, body_of(request), portal_cap(request))
    cleaned = [portal.clean_properties(store.type, i.get("properties") or {}) for i in inputs]
    started = portal.now_ms()
    with portal.lock:
        results = []
        for item, props in zip(inputs, cleaned, strict=True):
            id_property = item.get("idProperty")
            if not id_property:
                raise validation("idProperty is required for batch upsert and must name a unique "
                                 "property")
            key = str(item.get("id", ""))
            rec = portal.lookup(store, key, id_property)
            is_new = rec is None
            if rec is None:
                rec = portal.create(store, {id_property: key, **props})
            else:
                portal.update(store, rec, props)
            out = portal.render(store.type, rec, [id_property, *props])
            out["new"] = is_new
            results.append(out)
    return _batch(results, [], started)


def search(portal: Portal, request: Request, objectType: str) -> Response:
    store = portal.store(objectType)
    req = parse_request(body_of(request))
    with portal.lock:
        total, page = execute(store, req, portal.kind_of(store.type.name))
        if portal.search_lag_s:  # the index has not caught up with records created just now
            fresh = portal.now_ms() - int(portal.search_lag_s * 1000)
            indexed = [r for r in page if r.created_ms <= fresh]
            total, page = total - (len(page) - len(indexed)), indexed
        results = [portal.render(store.type, r, req.properties or None) for r in page]
    body: dict[str, Any] = {"total": total, "results": results}
    nxt = req.after + req.limit
    if req.limit and nxt < total and nxt <= MAX_RESULTS:
        body["paging"] = {"next": {"after": str(nxt), "link": ""}}
    return json_response(body)


def portal_cap(request: Request) -> int:
    return int(request.environ.get("sandbox.hubspot.batch_cap", 100))


# -- properties ----------------------------------------------------------------------------


def _type_name(objectType: str) -> str:
    t = object_type(objectType)
    if t is None:
        raise HubSpotError(400, error_body("VALIDATION_ERROR",
                                           f"Unable to infer object type from: {objectType}"))
    return t.name


def list_properties(portal: Portal, request: Request, objectType: str) -> Response:
    with portal.lock:
        return json_response({"results": list(portal.properties[_type_name(objectType)].values())})


def get_property(portal: Portal, request: Request, objectType: str, propertyName: str
                 ) -> Response:
    with portal.lock:
        p = portal.properties[_type_name(objectType)].get(propertyName)
    if p is None:
        raise not_found(f"Unable to find property {propertyName} for object type {objectType}")
    return json_response(p)


def _new_property(portal: Portal, type_name: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise validation("Invalid input JSON: a property definition must be an object")
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not raw.get(k)]
    if missing:
        raise validation(f"Property definition is missing required fields: {missing}")
    if raw["type"] not in ("string", "number", "date", "datetime", "enumeration", "bool"):
        raise validation(f"Invalid property type {raw['type']!r}")
    if raw["groupName"] not in portal.groups[type_name]:
        raise validation(f"Property group {raw['groupName']} does not exist for {type_name}")
    if raw["name"] in portal.properties[type_name]:
        raise HubSpotError(409, error_body(
            "OBJECT_ALREADY_EXISTS", f"Property named '{raw['name']}' already exists.",
            context={"name": [raw["name"]]}))
    # OptionInput requires displayOrder, hidden, label and value (properties spec, 2026-09)
    for i, o in enumerate(raw.get("options") or []):
        absent = [k for k in ("displayOrder", "hidden", "label", "value") if not isinstance(o, dict) or k not in o]
        if absent:
            raise validation(f"Invalid input JSON: options[{i}] of {raw['name']} is missing required fields {absent}")
    p = property_definition(raw["name"], raw["label"], raw["type"], raw["fieldType"],
                            raw["groupName"], hubspot_defined=False,
                            unique=bool(raw.get("hasUniqueValue")),
                            description=raw.get("description", ""), created_ms=portal.now_ms())
    p["options"] = [{"label": o.get("label"), "value": o.get("value"),
                     "displayOrder": o.get("displayOrder", i), "hidden": bool(o.get("hidden"))}
                    for i, o in enumerate(raw.get("options") or [])]
    p["formField"] = bool(raw.get("formField", False))
    return p


def create_property(portal: Portal, request: Request, objectType: str) -> Response:
    name = _type_name(objectType)
    with portal.lock:
        p = _new_property(portal, name, body_of(request))
        portal.properties[name][p["name"]] = p
    return json_response(p, 201)


def batch_create_properties(portal: Portal, request: Request, objectType: str) -> Response:
    name = _type_name(objectType)
    inputs = _inputs(portal, body_of(request), 100)
    started = portal.now_ms()
    results, errors = [], []
    with portal.lock:
        for raw in inputs:
            try:
                p = _new_property(portal, name, raw)
            except HubSpotError as exc:
                errors.append({"status": "error", "category": exc.body["category"],
                               "message": exc.body["message"],
                               "context": {"name": [str((raw or {}).get("name"))]},
                               "errors": [], "links": {}})
                continue
            portal.properties[name][p["name"]] = p
            results.append(p)
    return _batch(results, errors, started, 201)


def batch_read_properties(portal: Portal, request: Request, objectType: str) -> Response:
    name = _type_name(objectType)
    inputs = _inputs(portal, body_of(request), 100)
    started = portal.now_ms()
    with portal.lock:
        defs = portal.properties[name]
        results = [defs[i["name"]] for i in inputs if i.get("name") in defs]
    return _batch(results, [], started)


def list_groups(portal: Portal, request: Request, objectType: str) -> Response:
    with portal.lock:
        return json_response({"results": list(portal.groups[_type_name(objectType)].values())})


def get_group(portal: Portal, request: Request, objectType: str, groupName: str) -> Response:
    with portal.lock:
        g = portal.groups[_type_name(objectType)].get(groupName)
    if g is None:
        raise not_found(f"Unable to find property group {groupName} for {objectType}")
    return json_response(g)


def create_group(portal: Portal, request: Request, objectType: str) -> Response:
    type_name = _type_name(objectType)
    raw = body_of(request)
    if not raw.get("name") or not raw.get("label"):
        raise validation("Property group needs a name and a label")
    with portal.lock:
        groups = portal.groups[type_name]
        if raw["name"] in groups:
            raise HubSpotError(409, error_body(
                "OBJECT_ALREADY_EXISTS",
                f"A property group named '{raw['name']}' already exists.",
                context={"name": [raw["name"]]}))
        g = {"name": raw["name"], "label": raw["label"],
             "displayOrder": int(raw.get("displayOrder", -1)), "archived": False}
        groups[g["name"]] = g
    return json_response(g, 201)


# -- owners --------------------------------------------------------------------------------


def list_owners(portal: Portal, request: Request) -> Response:
    limit = min(max(int(request.args.get("limit", 100)), 1), 500)
    after = int(request.args.get("after", 0) or 0)
    email = request.args.get("email")
    with portal.lock:
        owners = [o for o in portal.owners if email is None or o["email"] == email]
    page = owners[after:after + limit]
    body: dict[str, Any] = {"results": page}
    if after + limit < len(owners):
        body["paging"] = {"next": {"after": str(after + limit), "link": ""}}
    return json_response(body)


def get_owner(portal: Portal, request: Request, ownerId: str) -> Response:
    by = request.args.get("idProperty", "id")
    with portal.lock:
        if by == "userId":
            owner = next((o for o in portal.owners if str(o["userId"]) == ownerId), None)
        else:
            owner = portal.owner_ids.get(ownerId)
    if owner is None:
        raise not_found(f"Owner {ownerId} not found")
    return json_response(owner)


ROUTES: list[tuple[str, str, Any, str]] = [
    # (method, template, handler, scope kind); see app.scopes_for
    ("GET", "/crm/v3/objects/<objectType>", list_objects, "read"),
    ("POST", "/crm/v3/objects/<objectType>", create_object, "write"),
    ("GET", "/crm/v3/objects/<objectType>/<objectId>", get_object, "read"),
    ("PATCH", "/crm/v3/objects/<objectType>/<objectId>", update_object, "write"),
    ("DELETE", "/crm/v3/objects/<objectType>/<objectId>", archive_object, "write"),
    ("POST", "/crm/v3/objects/<objectType>/batch/archive", batch_archive, "write"),
    ("POST", "/crm/v3/objects/<objectType>/merge", merge_objects, "write"),
    ("POST", "/crm/v3/objects/<objectType>/batch/read", batch_read, "read"),
    ("POST", "/crm/v3/objects/<objectType>/batch/create", batch_create, "write"),
    ("POST", "/crm/v3/objects/<objectType>/batch/update", batch_update, "write"),
    ("POST", "/crm/v3/objects/<objectType>/batch/upsert", batch_upsert, "write"),
    ("POST", "/crm/v3/objects/<objectType>/search", search, "search"),
    ("GET", "/crm/v3/properties/<objectType>", list_properties, "schema_read"),
    ("POST", "/crm/v3/properties/<objectType>", create_property, "schema_write"),
    ("POST", "/crm/v3/properties/<objectType>/batch/create", batch_create_properties,
     "schema_write"),
    ("POST", "/crm/v3/properties/<objectType>/batch/read", batch_read_properties, "schema_read"),
    ("GET", "/crm/v3/properties/<objectType>/groups", list_groups, "schema_read"),
    ("POST", "/crm/v3/properties/<objectType>/groups", create_group, "schema_write"),
    ("GET", "/crm/v3/properties/<objectType>/groups/<groupName>", get_group, "schema_read"),
    ("GET", "/crm/v3/properties/<objectType>/<propertyName>", get_property, "schema_read"),
    ("GET", "/crm/v3/owners", list_owners, "owners"),
    ("GET", "/crm/v3/owners/<ownerId>", get_owner, "owners"),
]
ROUTES += ASSOCIATION_ROUTES

