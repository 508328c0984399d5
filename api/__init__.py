"""The wire layer: protobuf schemas, generated code, conversions, status table.

`api.v1` is the code generated from `proto/candor/v1/` (`python -m api.protoc`), `api.wire`
converts its messages to and from the core types, and `api.status` maps every error to a gRPC
status. `api.identity` reads the party identity folder (keys, certificates, TLS names) both
ends of a channel load, and `api.pki` issues its certificates. `client/` and `server/`
import this layer and the core; it imports only the core (docs/architecture.md).
"""
