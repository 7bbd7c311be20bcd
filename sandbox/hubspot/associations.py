"""Associations v4: batch read, a record's associations, and default-association creation.

Shapes per https://developers.hubspot.com/docs/api/crm/associations: a batch read answers
``results[{from: {id}, to: [{toObjectId, associationTypes: [{category, typeId, label}]}]}]``
and, for ids with no associations, 207 with an ``errors[]`` entry whose ``subCategory`` is
``crm.associations.NO_ASSOCIATIONS_FOUND``.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response
from sandbox.hubspot.errors import HubSpotError, error_body, not_found, validation
from sandbox.hubspot.portal import ASSOCIATION_TYPES, Portal
from sandbox.hubspot.schema import ObjectType, iso_ms, object_type

__all__ = ["ROUTES"]


def _type(name: str) -> ObjectType:
    t = object_type(name)
    if t is None:
        raise HubSpotError(400, error_body("VALIDATION_ERROR",
                                           f"Unable to infer object type from: {name}"))
    return t


def _inputs(request: Request) -> list[Any]:
    body = request.get_json(silent=True)
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        raise validation("Invalid input JSON: inputs is required and must be a list")
    if len(inputs) > 1000:
        raise validation(f"Batch input size {len(inputs)} exceeds the maximum of 1000.")
    return inputs


def batch_read(portal: Portal, request: Request, fromObjectType: str, toObjectType: str
               ) -> Response:
    frm, to = _type(fromObjectType), _type(toObjectType)
    inputs = _inputs(request)
    started = portal.now_ms()
    results, errors = [], []
    with portal.lock:
        for item in inputs:
            key = str(item.get("id", ""))
            targets = portal.associated(frm.name, to.name, int(key)) if key.isdigit() else []
            if not targets:
                errors.append({
                    "status": "error", "category": "OBJECT_NOT_FOUND",
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "message": f"No {to.singular} is associated with {frm.singular} {key}.",
                    "context": {"fromObjectId": [key], "toObjectType": [to.name]},
                    "errors": [], "links": {},
                })
                continue
            results.append({"from": {"id": key}, "to": [
                {"toObjectId": t, "associationTypes": portal.association_types(
                    frm.name, to.name, int(key), t)} for t in targets]})
    body: dict[str, Any] = {"status": "COMPLETE", "results": results,
                            "startedAt": iso_ms(started), "completedAt": iso_ms(started)}
    if errors:
        body.update(numErrors=len(errors), errors=errors)
        return json_response(body, 207)
    return json_response(body)


def list_for_record(portal: Portal, request: Request, objectType: str, objectId: str,
                    toObjectType: str) -> Response:
    frm, to = _type(objectType), _type(toObjectType)
    with portal.lock:
        if not objectId.isdigit() or portal.stores[frm.name].get(int(objectId)) is None:
            raise not_found(f"{frm.singular} {objectId} does not exist")
        targets = portal.associated(frm.name, to.name, int(objectId))
        results = [{"toObjectId": t, "associationTypes": portal.association_types(
            frm.name, to.name, int(objectId), t)} for t in targets]
    return json_response({"results": results})


def create_default(portal: Portal, request: Request, fromObjectType: str, fromObjectId: str,
                   toObjectType: str, toObjectId: str) -> Response:
    frm, to = _type(fromObjectType), _type(toObjectType)
    specs = ASSOCIATION_TYPES.get((frm.name, to.name))
    if not specs:
        raise validation(f"No default association type from {frm.name} to {to.name}")
    started = portal.now_ms()
    with portal.lock:
        for t, id_ in ((frm, fromObjectId), (to, toObjectId)):
            if not id_.isdigit() or portal.stores[t.name].get(int(id_)) is None:
                raise validation(f"{t.label}={id_} is not valid")
        portal.associate(frm.name, int(fromObjectId), to.name, int(toObjectId))
    results = [{"from": {"id": fromObjectId}, "to": {"id": toObjectId},
                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED",
                                    "associationTypeId": specs[0][0]}}]
    return json_response({"status": "COMPLETE", "results": results,
                          "startedAt": iso_ms(started), "completedAt": iso_ms(started)})


ROUTES: list[tuple[str, str, Any, str]] = [
    ("POST", "/crm/v4/associations/<fromObjectType>/<toObjectType>/batch/read", batch_read,
     "associations"),
    ("GET", "/crm/v4/objects/<objectType>/<objectId>/associations/<toObjectType>",
     list_for_record, "associations"),
    ("PUT", "/crm/v4/objects/<fromObjectType>/<fromObjectId>/associations/default/"
     "<toObjectType>/<toObjectId>", create_default, "associations_write"),
]
