"""The one error tree of Candor.

Every failure that crosses a module boundary is a `CandorError`. Verification functions
raise `VerificationError`; they never return a bool a caller could forget to check. The
server maps each class to exactly one gRPC status code (see `api/status.py`); messages
say what was wrong and what to do about it, and never contain keys, plaintexts or
randomness.
"""

from __future__ import annotations


class CandorError(Exception):
    """Base class of every error Candor raises on purpose."""


class InvalidInput(CandorError):
    """The input is malformed: wrong length, encoding, range or type (INVALID_ARGUMENT)."""


class VerificationError(CandorError):
    """A signature, proof, share or ledger view failed cryptographic verification."""


class OpeningFailed(VerificationError):
    """A decrypted plaintext does not open its Pedersen commitments. Deliberately says no
    more than that (the verdict is published): a held rating, not a malformed request."""


class QuorumMissing(VerificationError):
    """A checkpoint verifies but carries fewer witness cosignatures than required: not yet
    cosigned (wait and retry), rather than forged."""


class NotFound(CandorError):
    """The named object does not exist (NOT_FOUND)."""


class Conflict(CandorError):
    """The request conflicts with the current state (FAILED_PRECONDITION)."""


class StaleRing(Conflict):
    """A report or retraction names the ring of an earlier membership change: the member
    set changed since the member's checkpoint, so re-sign over the current ring (ABORTED)."""


class AlreadyExists(Conflict):
    """The object exists already: a replayed report id, a second admission (ALREADY_EXISTS)."""


class PermissionDenied(CandorError):
    """The caller is known but not allowed to do this (PERMISSION_DENIED)."""


class Unauthenticated(CandorError):
    """The caller could not be identified (UNAUTHENTICATED)."""


class ResourceExhausted(CandorError):
    """A size or rate limit was exceeded (RESOURCE_EXHAUSTED)."""


class Unavailable(CandorError):
    """A dependency (database, trustee, operator) cannot be reached right now (UNAVAILABLE)."""
