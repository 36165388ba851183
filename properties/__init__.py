"""Property-based tests: the differential filesystem state machine (vfswasi backends against
wasmtime's own WASI) and bad-input properties of every WASI function.

A package (with its own conftest.py) so that its modules never shadow the `conftest` that
tests/ imports by name. Profiles: see conftest.py.
"""
