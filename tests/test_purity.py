"""The core stays pure: it loads no transport or storage, and its work touches no file, socket,
subprocess or clock.

Both checks run in a fresh interpreter. Importing may read files (Python reads modules from
disk), so the I/O check imports every core module first, then installs an audit hook (PEP 578)
that records every file open (except a module file a library imports lazily), socket and
subprocess, replaces the clock functions of `time` by ones that raise, and only then runs a
small workload through the main core paths: Merkle proofs, a signed and cosigned checkpoint,
a Pedersen commitment with its validity proof, threshold Paillier encryption and decryption,
HPKE escrow, a rule set and its score. `datetime.now()` and `date.today()` read the clock in
C, where no hook sees them, so a source check refuses them (and a `time` or `socket` import)
in core.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import core

FORBIDDEN = ("grpc", "google.protobuf", "sqlite3", "psycopg")
ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
KEY_FILE = ROOT / "tests" / "keys" / "test_only_threshold_1024_t2_n3.json"

#: Modules the core must not import, and calls that read the clock.
FORBIDDEN_IMPORTS = {"time", "socket", "os", "pathlib", "subprocess", "io", "shutil", "tempfile", "urllib"}
CLOCK_CALLS = {"now", "today", "utcnow"}

_MODULES = [f"core.{m.name}" for m in pkgutil.iter_modules(core.__path__)]

_WORKLOAD = r'''
import importlib, json, sys, time
for m in MODULES:
    importlib.import_module(m)
key_data = json.loads(open(KEY_FILE, encoding="utf-8").read())

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import escrow, merkle, paillier, threshold
from core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from core.group import default_group
from core.note import CosignatureSigner, NoteSigner, append_signatures
from core.pedersen import Generators, commit, random_scalar
from core.proofs import ReportStatement, prove_validity, verify_validity
from core.rules import DEFAULT_CATEGORIES, canonical_toml, check_canonical, default_rules, weight
from core.score import grade_of, rating_score
from core.subject import subject_tag
import datetime

operator_key = Ed25519PrivateKey.generate()
witness_key = Ed25519PrivateKey.generate()

events = []
MODULE_FILES = (".py", ".pyc", ".so")


def hook(event, args):
    if event == "open" and str(args[0]).endswith(MODULE_FILES):
        return  # a lazy import inside a library (cryptography loads its backend on first use)
    if event == "open" or event.startswith(("socket.", "subprocess.", "os.exec", "os.spawn", "os.posix_spawn",
                                            "os.system", "os.fork")):
        events.append(f"{event} {args[0]!r}")


def clock(*_args, **_kwargs):
    raise AssertionError("the core read the clock")


sys.addaudithook(hook)
for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns",
             "process_time", "process_time_ns", "localtime", "ctime"):
    setattr(time, name, clock)

# Merkle tree, inclusion and consistency proofs (RFC 9162)
tree = merkle.MemoryTree()
for i in range(7):
    tree.append(b"leaf %d" % i)
merkle.verify_inclusion(tree.leaf_hash(3), 3, 7, tree.inclusion_proof(3), tree.root())
merkle.verify_consistency(4, 7, tree.root(4), tree.root(), tree.consistency_proof(4))

# a checkpoint signed by the operator and cosigned by a witness (C2SP notes)
signer = NoteSigner("operator.example", operator_key)
witness = CosignatureSigner("witness.example", witness_key)
checkpoint = Checkpoint("candor.example/log", 7, tree.root())
note = sign_checkpoint(checkpoint, signer)
note = append_signatures(note, [witness.cosign(checkpoint.body(), 1_700_000_000)])
open_checkpoint(note, "candor.example/log", signer.verifier(), [witness.verifier()], quorum=1)

# a report's commitment and its validity proof
gens = Generators(default_group(), DEFAULT_CATEGORIES)
r = random_scalar()
tag = subject_tag(b"k" * 32, "shop-42")
statement = ReportStatement(genesis_hash=b"g" * 32, report_id=b"r" * 16, subject_tag=tag,
                            category=DEFAULT_CATEGORIES[0], event_date="2026-01-31",
                            commitment=gens.group.encode(commit(gens, DEFAULT_CATEGORIES[0], 2, r)))
verify_validity(gens, statement, prove_validity(gens, statement, 2, r))

# threshold Paillier: encrypt a packed count, two trustees decrypt
public_key, shares = threshold.parse_key_file(key_data, check_shares=False)
c = paillier.encrypt(public_key.phe(), paillier.pack(1000, 5))
parts = [threshold.decryption_share(public_key, s, c) for s in shares[:2]]
opening = paillier.unpack(threshold.combine(public_key, c, parts), 6)
assert (opening.counts[5], opening.r_sum) == (1, 1000)

# escrow sealed to the regulator (RFC 9180 base mode)
private, public = escrow.escrow_keypair()
assert escrow.open_(private, b"info", b"aad", escrow.seal(public, b"info", b"aad", b"secret")) == b"secret"

# a rule set, a decay weight, a score and its grade
rules = check_canonical(canonical_toml(default_rules()), DEFAULT_CATEGORIES)
w = weight(rules, datetime.date(2025, 2, 1), datetime.date(2026, 6, 1), category=DEFAULT_CATEGORIES[0])
counts = [0] * (4 * len(DEFAULT_CATEGORIES))
counts[3] = w
grade_of(rules, rating_score(rules, DEFAULT_CATEGORIES, counts))

sys.stdout.write(json.dumps(events))
'''


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_core_imports_no_transport_or_storage() -> None:
    assert _MODULES, "the core package has no modules"
    code = (
        "import importlib, sys\n"
        f"for m in {_MODULES!r}: importlib.import_module(m)\n"
        f"bad = [f for f in {FORBIDDEN!r} if f in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    assert _run(code).strip() == "", "core loaded a transport or storage module"


def test_core_work_opens_no_file_socket_or_clock() -> None:
    code = f"MODULES = {_MODULES!r}\nKEY_FILE = {str(KEY_FILE)!r}\n" + _WORKLOAD
    events = _run(code).strip()
    assert events == "[]", f"core did I/O during the workload: {events}"


def test_the_audit_hook_sees_a_file_open() -> None:
    # The check above cannot fail silently: the same hook records a file a workload opens.
    code = (f"MODULES = []\nKEY_FILE = {str(KEY_FILE)!r}\n"
            + _WORKLOAD.split("# Merkle tree")[0] + f"open({str(KEY_FILE)!r}).close()\n"
            "sys.stdout.write(json.dumps(events))\n")
    assert "open" in _run(code)


def test_core_source_reads_no_clock_and_imports_no_io() -> None:
    found: list[str] = []
    for path in sorted(CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names: list[str] = []
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            found += [f"{path.name}:{line} imports {n}" for n in names if n in FORBIDDEN_IMPORTS]
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in CLOCK_CALLS and not node.args):
                found.append(f"{path.name}:{line} calls .{node.func.attr}()")
    assert not found, "core reads the clock or does I/O: " + "; ".join(found)
