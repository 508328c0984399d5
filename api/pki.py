"""The alliance's X.509 material for mutual TLS (docs/architecture.md): what the CA issues.

The regulator runs the alliance CA (`client.issuing`, `server.ceremony`). Every party gets an ECDSA
P-256 TLS key (what every TLS stack accepts) and a certificate whose subject CN is the party's name
and OU its role (operator, regulator, member, trustee, witness, subject). A server reads them back
from its mTLS peer with `server.pki`.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROLES = ("operator", "regulator", "member", "trustee", "witness", "subject")
"""A subject's certificate carries its subject tag (hex) as CN, never its raw id (docs/subjects.md)."""
VALIDITY = _dt.timedelta(days=825)


def _name(cn: str, role: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Candor alliance"),
             x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if role is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
    return x509.Name(attrs)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(name: str = "Candor alliance CA") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = new_key()
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, name: str, role: str,
          hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A TLS key and certificate for party `name` in `role`, usable as client and server."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role}")
    key = new_key()
    now = _dt.datetime.now(_dt.timezone.utc)
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name, role))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                              x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def certificate_digest(pem: bytes) -> bytes:
    """SHA-256 of a certificate's DER bytes: what SubjectEnrolled binds (docs/subjects.md)."""
    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256())
