"""Routing benchmark harness: readers for the public instances in `data/benchmarks`, an independent
re-costing checker, the three solvers compared (the `routing` engine, PyVRP, plain OR-Tools) and the
`python -m bench.routing quick|full` runner that writes `bench/results/` and `BENCHMARKS.md`.
"""
