"""Benchmarks run by `nox -s bench`: each `bench_*.py` module measures one thing side by side."""
