"""The alliance's X.509 material for mutual TLS (docs/architecture.md).

The regulator runs the alliance CA. Every party gets an ECDSA P-256 TLS key (what every TLS stack accepts)
and a certificate whose subject CN is the party's name and OU its role
(operator, regulator, member, trustee, witness, subject). The role a certificate claims is only a
hint: the server also checks the ledger (a member must be admitted and not revoked).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from functools import lru_cache
from typing import TYPE_CHECKING

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.errors import Unauthenticated

if TYPE_CHECKING:
    from api.identity import Identity

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


def server_credentials(identity: Identity) -> grpc.ServerCredentials:
    """Mutual TLS for a server: its own key and certificate, and every client must show a
    certificate from the alliance CA."""
    return grpc.ssl_server_credentials(
        [(identity.tls_key_pem(), identity.tls_cert_pem())],
        root_certificates=identity.ca_pem(),
        require_client_auth=True,
    )


def peer_identity(auth_context: dict[str, list[bytes]]) -> tuple[str, str]:
    """(name, role) of the mTLS peer, from the certificate the TLS layer already verified."""
    pems = auth_context.get("x509_pem_cert") or []
    if not pems:
        raise Unauthenticated("no client certificate: connect with the mTLS certificate from your identity folder")
    return _name_and_role(pems[0])


@lru_cache(maxsize=4096)
def _name_and_role(pem: bytes) -> tuple[str, str]:
    # Cached by the certificate's bytes: the TLS layer verified it, parsing it per call is waste.
    cert = x509.load_pem_x509_certificate(pem)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    ous = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if not cns or not ous or ous[0].value not in ROLES:
        raise Unauthenticated("client certificate names no Candor party (CN) and role (OU)")
    return str(cns[0].value), str(ous[0].value)


def certificate_digest(pem: bytes) -> bytes:
    """SHA-256 of a certificate's DER bytes: what SubjectEnrolled binds (docs/subjects.md)."""
    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256())


def peer_certificate_digest(auth_context: dict[str, list[bytes]]) -> bytes:
    """`certificate_digest` of the mTLS peer's certificate (already verified by the TLS layer)."""
    pems = auth_context.get("x509_pem_cert") or []
    if not pems:
        raise Unauthenticated("no client certificate: connect with the mTLS certificate from your identity folder")
    return certificate_digest(pems[0])
