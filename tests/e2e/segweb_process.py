"""Moved to tests/conftest.py (same signature); kept so suites on other branches that still
`from segweb_process import SegwebProcess` run until they import it from conftest."""
from conftest import SegwebProcess  # noqa: F401
