"""Identity folders the regulator issues with the alliance CA (api/identity.py): every
party's at the key ceremony (`server/ceremony.py`), a member's when it is admitted and a
subject's when it is enrolled (docs/subjects.md).

Nothing here touches the ledger. A folder is written into a fresh hidden staging folder
beside its target (`staging_folder`); the `Regulator` SDK (client/regulator.py) appends the
entry and renames the staging folder to its target only once the ledger accepted it, so a
refused admission or enrolment leaves no CA-signed credentials behind.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from api import pki
from api.identity import Identity, ed25519_pem, tls_name, write_private
from client.subject import SUBJECT_ENCRYPTION_KEY, SUBJECT_TAG_FILE
from core import entries as e
from core import escrow, ring
from core.errors import InvalidInput
from core.subject import subject_tag

CA = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def write_party(path: Path, ca: CA, role: str, name: str, server: str, genesis_leaf: bytes | None,
                extra: dict[str, object] | None = None) -> Path:
    """Create the identity folder `path` of party `name` in `role`: its mTLS key and
    certificate issued by `ca`, the CA certificate, identity.json and the pinned genesis."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key, ca_cert = ca
    hosts = ("localhost", "127.0.0.1") + ((tls_name(path.name),) if role in ("operator", "trustee") else ())
    tls_key, tls_cert = pki.issue(ca_key, ca_cert, name, role, hosts)
    write_private(path / "tls.key", pki.key_pem(tls_key))
    write_private(path / "tls.crt", pki.cert_pem(tls_cert))
    write_private(path / "ca.crt", pki.cert_pem(ca_cert))
    info = {"role": role, "name": name, "server": server, **(extra or {})}
    write_private(path / "identity.json", json.dumps(info, indent=2).encode())
    if genesis_leaf is not None:
        write_private(path / "genesis.entry", genesis_leaf)
    return path


def staging_folder(target: Path) -> Path:
    """A fresh hidden folder beside `target` to write a new party's folder in, before the
    ledger holds its admission or enrolment (module docstring)."""
    if target.exists():
        raise InvalidInput(f"{target} exists already; choose another folder")
    return target.parent / f".{target.name}.issuing-{secrets.token_hex(4)}"


def _ca(regulator: Identity) -> CA:
    ca_key = serialization.load_pem_private_key(regulator.read("ca.key"), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise InvalidInput(f"{regulator.path / 'ca.key'} is not the alliance CA's EC key")
    return ca_key, x509.load_pem_x509_certificate(regulator.ca_pem())


def member_folder(regulator: Identity, name: str, path: Path) -> e.MemberAdmitted:
    """Write the identity folder of member `name` into `path` (fresh Ed25519 and reporting
    keys, the alliance subject key); return the MemberAdmitted entry that admits it."""
    e.check_member_id(name)
    folder = write_party(path, _ca(regulator), "member", name, regulator.server, regulator.genesis_leaf())
    signing = Ed25519PrivateKey.generate()
    x, reporting_public = ring.reporting_keypair()
    write_private(folder / "signing.key", ed25519_pem(signing))
    write_private(folder / "reporting.key", f"{x:064x}".encode())
    write_private(folder / "subject.key", regulator.read("subject.key"))
    return e.MemberAdmitted(name, raw_public(signing), reporting_public, name)


def subject_folder(regulator: Identity, subject_id: str, path: Path) -> e.SubjectEnrolled:
    """Write the identity folder of a rated anchor into `path` (docs/subjects.md): an mTLS
    certificate for role subject whose CN is its subject tag, fresh Ed25519 and X25519 keys,
    the tag and the genesis. Return the SubjectEnrolled entry binding the tag, both public
    keys and the certificate's digest. The raw id is used here, on the regulator's machine,
    and written nowhere."""
    tag = subject_tag(regulator.hex_file("subject.key"), subject_id)
    folder = write_party(path, _ca(regulator), "subject", tag.hex(), regulator.server, regulator.genesis_leaf())
    signing = Ed25519PrivateKey.generate()
    enc_private, enc_public = escrow.escrow_keypair()
    write_private(folder / "signing.key", ed25519_pem(signing))
    write_private(folder / SUBJECT_ENCRYPTION_KEY, enc_private.hex().encode())
    write_private(folder / SUBJECT_TAG_FILE, tag.hex().encode())
    return e.SubjectEnrolled(tag, raw_public(signing), enc_public,
                             pki.certificate_digest(Identity.load(folder).tls_cert_pem()))
