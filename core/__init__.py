"""Candor's pure cryptographic core.

Everything here is shared by the server, the client SDK and the auditor. The core imports
only the standard library, phe, gmpy2, the BLS12-381 group backends and `cryptography`:
no gRPC, no protobuf, no storage, no environment variables and no clock. Callers pass in
whatever those would provide (times, randomness sources, progress callbacks).
"""
