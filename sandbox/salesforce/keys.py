"""The key pair of the sandbox org's External Client App: an RSA private key (for the client, to
sign JWT bearer assertions) and its self-signed certificate (uploaded to the app, as an admin
does under "Use digital signatures"; Salesforce Help, "Create a Private Key and Self-Signed
Digital Certificate"). One pair per process: generating RSA keys is the slow part.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone

__all__ = ["KeyPair", "key_pair"]


class KeyPair:
    def __init__(self, private_key_pem: str, certificate_pem: str) -> None:
        self.private_key_pem = private_key_pem
        self.certificate_pem = certificate_pem


@functools.cache
def key_pair() -> KeyPair:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leadscore integration")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return KeyPair(private, cert.public_bytes(serialization.Encoding.PEM).decode())
