# Sourced by tools/test.sh. Debian's valgrind, for the deterministic counter gate
# (benchmarks/counters.py, run by tests/perf/test_counters.py).
ci_apt valgrind
valgrind --version
