"""Generate the TEST-ONLY threshold Paillier keys under tests/keys/ (t = 2 of n = 3).

Each file holds the public key, all three key shares and the two safe primes, behind a
TEST_ONLY marker that ``core.threshold.load_key_file`` insists on. Never use these keys
for anything but tests: anyone with the repository can decrypt everything under them.

    python tests/keys/make_test_only_keys.py [1024 2048 3072]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.threshold import deal, key_file_dict, safe_prime

HERE = Path(__file__).resolve().parent
THRESHOLD = 2
PARTIES = 3


def key_path(bits: int) -> Path:
    return HERE / f"test_only_threshold_{bits}_t{THRESHOLD}_n{PARTIES}.json"


def make(bits: int) -> Path:
    def progress(line: str) -> None:
        print(f"[{bits}] {line}", file=sys.stderr, flush=True)

    # The primes are generated here rather than inside deal() so that the file can keep
    # them: some tests compare against phe's own private key.
    p = safe_prime(bits // 2, progress)
    q = p
    while q == p:
        q = safe_prime(bits // 2, progress)
    public_key, shares = deal(
        bits, THRESHOLD, PARTIES, progress, primes=(p, q), allow_insecure=bits < 2048
    )
    path = key_path(bits)
    data = key_file_dict(public_key, shares, factors=(p, q))
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: list[str]) -> None:
    for bits in [int(a) for a in argv] or [1024, 2048, 3072]:
        print(make(bits))


if __name__ == "__main__":
    main(sys.argv[1:])
