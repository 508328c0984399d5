"""Candor's client side: the member SDK, the ledger verifier, the witness and the auditor."""
