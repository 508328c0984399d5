"""Mutual TLS on the server side (docs/architecture.md): credentials, and the party an mTLS peer is.

The certificates are those `api.pki` issues: subject CN the party's name, OU its role. The role a
certificate claims is only a hint: the server also checks the ledger (a member must be admitted and
not revoked).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from api.pki import ROLES, certificate_digest
from core.errors import Unauthenticated

if TYPE_CHECKING:
    from api.identity import Identity


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


def peer_certificate_digest(auth_context: dict[str, list[bytes]]) -> bytes:
    """`certificate_digest` of the mTLS peer's certificate (already verified by the TLS layer)."""
    pems = auth_context.get("x509_pem_cert") or []
    if not pems:
        raise Unauthenticated("no client certificate: connect with the mTLS certificate from your identity folder")
    return certificate_digest(pems[0])
