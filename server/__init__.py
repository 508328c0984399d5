"""Candor's operator-side services: storage, gRPC servicers and the processes that run them."""
