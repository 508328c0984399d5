"""Candor benchmarks: `python -m bench.core` measures the core primitives against their floors."""
