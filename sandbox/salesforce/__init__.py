"""A local Salesforce org: REST, SOQL, sObject Collections, Bulk API 2.0 and Tooling
CustomField, over loopback HTTPS, for the real simple-salesforce client.

Start one (in-process; ``port=0`` picks a free port)::

    from sandbox.salesforce import create_server
    with create_server(tenant) as server:            # tenant: sandbox.tenant.Tenant or None
        info = server.connection_info()

``info`` holds ``instance_url``, the External Client App's ``consumer_key``/``consumer_secret``
and ``private_key_file`` (its certificate is the app's, for JWT bearer), the legacy
``username``/``password``/``security_token``, ``domain`` (a My Domain), a ready ``session_id``,
``ca_cert`` (a PEM file) and ``env``: the ``LEADSCORE_SALESFORCE__…`` variables for leadscore.

How simple-salesforce reaches it (it always speaks ``https://`` and logs in at
``https://{domain}.salesforce.com``): give it a ``requests.Session`` whose ``verify`` is the
sandbox CA and which has a :class:`LoopbackAdapter` mounted for the login host, so the login
request is sent to the sandbox instead. :func:`client_session` builds exactly that::

    session = client_session(info["instance_url"], info["ca_cert"])   # domain="leadscore-sandbox.my"
    sf = Salesforce(username=info["username"], consumer_key=info["consumer_key"],
                    privatekey_file=info["private_key_file"], domain=info["domain"],
                    session=session)                                   # JWT bearer
    sf = Salesforce(consumer_key=info["consumer_key"], consumer_secret=info["consumer_secret"],
                    domain=info["domain"], session=session)            # client credentials
    sf = Salesforce(username=info["username"], password=info["password"],
                    security_token=info["security_token"], domain=info["domain"],
                    session=session)                                   # SOAP login
    sf = Salesforce(instance_url=info["instance_url"], session_id=info["session_id"],
                    session=session)                                   # direct session
    sf = Salesforce(username=..., password=..., consumer_key=..., consumer_secret=...,
                    domain=info["domain"], session=session)            # OAuth password grant

The login response's ``serverUrl`` is the sandbox's own ``https://127.0.0.1:PORT``, so every
later call (REST, ``sf.bulk2``, tooling) goes straight to it with the same session. The adapter
code needs nothing sandbox-specific beyond accepting an injected ``session=``.
Custom fields: Tooling API ``sf.toolingexecute("sobjects/CustomField", method="POST", ...)``
(:mod:`.tooling`) or ``sf.mdapi.CustomField.create`` (:mod:`.metadata`; zeep opens its own
HTTP session, so set ``REQUESTS_CA_BUNDLE`` to ``ca_cert`` for it), then ``FieldPermissions``.

Module map: :mod:`.ids` (18-char ids), :mod:`.schema` (objects, fields, describe),
:mod:`.store` (rows, change log, validation), :mod:`.soql` (parser), :mod:`.query` (execution),
:mod:`.app` (REST), :mod:`.auth`, :mod:`.bulk`, :mod:`.tooling`, :mod:`.metadata`,
:mod:`.seed`, :mod:`.server`.
"""

from .app import Limits, SalesforceApp
from .seed import EMAIL_SUBJECTS
from .server import AUTH_FLOWS, LOGIN_DOMAIN, LoopbackAdapter, SalesforceSandbox, client_session, create_server

__all__ = [
    "AUTH_FLOWS",
    "EMAIL_SUBJECTS",
    "LOGIN_DOMAIN",
    "Limits",
    "LoopbackAdapter",
    "SalesforceApp",
    "SalesforceSandbox",
    "client_session",
    "create_server",
]
