"""Regenerate checkpoint.json: signed and cosigned C2SP checkpoints, valid and invalid.

Run: python tests/vectors/make_checkpoint.py

The notes are built here with plain string formatting, hashlib and cryptography's Ed25519,
independently of core.note / core.checkpoint (the code under test), following
c2sp.org/signed-note, c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature. Keys come
from fixed test-only seeds, and Ed25519 is deterministic, so the output is reproducible
byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

OUT = Path(__file__).with_name("checkpoint.json")
ORIGIN = "candor.example/ledger"
TIME = 1700000000


class Key:
    def __init__(self, name: str, alg: int, label: str | None = None) -> None:
        self.name = name
        self.alg = alg
        label = name if label is None else label
        seed = hashlib.sha256(f"candor test-only checkpoint key {label}".encode()).digest()
        self.sk = Ed25519PrivateKey.from_private_bytes(seed)
        self.pub = self.sk.public_key().public_bytes_raw()
        self.kid = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + self.pub).digest()[:4]

    @property
    def vkey(self) -> str:
        material = base64.b64encode(bytes([self.alg]) + self.pub).decode()
        return f"{self.name}+{self.kid.hex()}+{material}"

    def line(self, sig: bytes) -> str:
        return f"\u2014 {self.name} {base64.b64encode(self.kid + sig).decode()}\n"

    def sign(self, text: str) -> str:
        return self.line(self.sk.sign(text.encode()))

    def cosign(self, text: str, ts: int = TIME, signed_ts: int | None = None) -> str:
        msg = f"cosignature/v1\ntime {ts if signed_ts is None else signed_ts}\n{text}"
        return self.line(ts.to_bytes(8, "big") + self.sk.sign(msg.encode()))


OPERATOR = Key(ORIGIN, 0x01)
W1 = Key("witness.example/w1", 0x04)
W2 = Key("witness.example/w2", 0x04)
W3 = Key("witness.example/w3", 0x04)
STRANGER = Key("stranger.example/s", 0x01)
IMPOSTOR = Key(ORIGIN, 0x01, label="impostor")  # the operator's name, another key
W1_PLAIN = Key(W1.name, 0x01)  # W1's key, but with the plain Ed25519 type byte

ROOT = hashlib.sha256(b"candor test root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()
EMPTY_ROOT = hashlib.sha256(b"").digest()


def body(size: str = "1234", root: str = ROOT_B64, origin: str = ORIGIN, ext: str = "") -> str:
    return f"{origin}\n{size}\n{root}\n{ext}"


def note(text: str, *lines: str) -> str:
    return text + "\n" + "".join(lines)


def flip_sig(line: str) -> str:
    """Flip one bit inside the Ed25519 part of a signature line (keeps base64 canonical)."""
    prefix, b64 = line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[10] ^= 0x01
    return f"{prefix} {base64.b64encode(bytes(raw)).decode()}\n"


def build() -> dict[str, Any]:
    b = body()
    op = OPERATOR.sign(b)
    cases: list[dict[str, Any]] = []

    def valid(why: str, n: str, size: int, root: bytes, witnesses: list[str], quorum: int,
              extensions: tuple[str, ...] = ()) -> None:
        cases.append({
            "id": len(cases) + 1, "valid": True, "why": why, "note": n, "quorum": quorum,
            "checkpoint": {"origin": ORIGIN, "size": size, "root_hash": root.hex(),
                           "extensions": list(extensions)},
            "witnesses": witnesses,
        })

    def invalid(why: str, n: str, error: str, message: str, quorum: int = 0,
                origin: str = ORIGIN) -> None:
        case: dict[str, Any] = {
            "id": len(cases) + 1, "valid": False, "why": why, "note": n, "quorum": quorum,
            "error": error, "message": message,
        }
        if origin != ORIGIN:
            case["origin"] = origin
        cases.append(case)

    valid("operator signature only, no quorum required", note(b, op), 1234, ROOT, [], 0)
    valid("two of three witnesses cosigned, quorum 2",
          note(b, op, W1.cosign(b), W3.cosign(b, TIME + 5)), 1234, ROOT,
          ["witness.example/w1", "witness.example/w3"], 2)
    valid("signature from an unknown key is ignored",
          note(b, op, STRANGER.sign(b), W2.cosign(b)), 1234, ROOT, ["witness.example/w2"], 1)
    ext = body(ext="extension line\n")
    valid("one extension line", note(ext, OPERATOR.sign(ext)), 1234, ROOT, [], 0,
          ("extension line",))
    empty = body(size="0", root=base64.b64encode(EMPTY_ROOT).decode())
    valid("empty tree: size 0 and SHA-256 of the empty string",
          note(empty, OPERATOR.sign(empty)), 0, EMPTY_ROOT, [], 0)

    invalid("operator signature has a flipped bit", note(b, flip_sig(op)),
            "VerificationError", "invalid signature for key candor.example/ledger")
    invalid("origin of another log", note(b, op), "VerificationError", "not the expected",
            origin="candor.example/other")
    invalid("truncated inside the signature line", note(b, op)[:-20], "InvalidInput",
            "end with a newline")
    invalid("missing final newline", note(b, op)[:-1], "InvalidInput", "end with a newline")
    for size, why, msg in (
        ("01234", "size with a leading zero", "leading zeros"),
        ("-1234", "negative size", "leading zeros"),
        ("+1234", "size with a plus sign", "leading zeros"),
        ("1 234", "size with a space", "leading zeros"),
        ("18446744073709551616", "size 2^64 exceeds uint64", "exceeds 2^64 - 1"),
    ):
        t = body(size=size)
        invalid(f"{why} (validly signed)", note(t, OPERATOR.sign(t)), "InvalidInput", msg)
    for root, why, msg in (
        (base64.b64encode(ROOT[:31]).decode(), "root hash of 31 bytes", "31 bytes"),
        (base64.b64encode(ROOT + b"\0").decode(), "root hash of 33 bytes", "33 bytes"),
        ("not*base64!", "root hash not base64", "not valid standard base64"),
        (ROOT_B64.rstrip("="), "root hash without padding", "not valid standard base64"),
        (ROOT_B64[:42] + "J=", "root hash with non-zero padding bits", "not canonical"),
    ):
        t = body(root=root)
        invalid(f"{why} (validly signed)", note(t, OPERATOR.sign(t)), "InvalidInput", msg)
    t = body(ext="\nextension\n")
    invalid("blank line inside the signed text (empty extension line)",
            note(t, OPERATOR.sign(t)), "InvalidInput", "extension line 0 is empty")
    invalid("extra blank line between text and signatures (signature then fails)",
            b + "\n" + note(b, op), "VerificationError", "invalid signature")
    t = f"{ORIGIN}\n1234\n"
    invalid("only two lines of text", note(t, OPERATOR.sign(t)), "InvalidInput",
            "at least 3")
    t = body(origin=ORIGIN + "\r")
    invalid("carriage return in the origin", note(t, OPERATOR.sign(t)), "InvalidInput",
            "control character")
    invalid("no signature lines", b + "\n", "InvalidInput", "no signature lines")
    invalid("trailing line that is not a signature", note(b, op) + "garbage\n",
            "InvalidInput", "em dash")
    invalid("signature base64 with non-zero padding bits",
            note(b, op[:-3] + ("B" if op[-3] != "B" else "C") + "=\n"), "InvalidInput",
            "canonical")
    invalid("operator signature missing, only witness cosignatures",
            note(b, W1.cosign(b), W2.cosign(b)), "VerificationError", "not signed by the operator")
    invalid("signed by another key under the operator's name (different key ID)",
            note(b, IMPOSTOR.sign(b)), "VerificationError", "not signed by the operator")
    invalid("operator's key ID with another key's signature",
            note(b, OPERATOR.line(IMPOSTOR.sk.sign(b.encode()))), "VerificationError",
            "invalid signature for key")
    invalid("cosignature quorum not met: one of two required",
            note(b, op, W1.cosign(b)), "VerificationError",
            "1 valid witness cosignature(s) (witness.example/w1), quorum is 2", quorum=2)
    invalid("cosignature quorum not met: none of three required",
            note(b, op, STRANGER.sign(b)), "VerificationError",
            "0 valid witness cosignature(s) (none), quorum is 3", quorum=3)
    invalid("cosignature over another checkpoint",
            note(b, op, W1.cosign(body(size="1233"))), "VerificationError",
            "invalid cosignature for key witness.example/w1", quorum=1)
    invalid("cosignature with altered timestamp",
            note(b, op, W2.cosign(b, TIME + 1, signed_ts=TIME)), "VerificationError",
            "invalid cosignature for key witness.example/w2", quorum=1)
    invalid("cosignature timestamp above 2^63 - 1",
            note(b, op, W1.cosign(b, 2**63, signed_ts=2**63)), "VerificationError",
            "exceeds 2^63 - 1", quorum=1)
    invalid("witness signs with plain Ed25519 (type 0x01 key ID): not a cosignature",
            note(b, op, W1_PLAIN.sign(b)), "VerificationError",
            "0 valid witness cosignature(s)", quorum=1)
    return {
        "description": (
            "C2SP tlog-checkpoint notes signed by the operator (Ed25519, type 0x01) and "
            "cosigned by witnesses (tlog-cosignature v1, type 0x04). Open each note with "
            "open_checkpoint(note, origin, operator, witnesses, quorum); valid cases give the "
            "checkpoint and witness names, invalid ones raise `error` whose message contains "
            "`message`. Generated by make_checkpoint.py with test-only keys."
        ),
        "origin": ORIGIN,
        "operator_vkey": OPERATOR.vkey,
        "witness_vkeys": [W1.vkey, W2.vkey, W3.vkey],
        "cases": cases,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")
