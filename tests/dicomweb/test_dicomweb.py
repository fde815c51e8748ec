"""Runs tests/dicomweb/dicomweb.test.mjs (dicomweb-client, the DICOMweb client OHIF uses,
against the real binary) with node's test runner; its exit code is the verdict.
Skipped when node, the binary or the corpus is absent. `npm ci` runs here when node_modules is missing
(scripts/test.sh does it once before ctest)."""
import os
import shutil
import subprocess

import pytest

from conftest import BIN, TESTDATA, needs_binary, needs_corpus

HERE = os.path.dirname(os.path.abspath(__file__))

pytestmark = [needs_corpus, needs_binary]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_dicomweb_client():
    if not os.path.isdir(os.path.join(HERE, "node_modules", "dicomweb-client")):
        npm = shutil.which("npm")
        assert npm, "npm is needed to install tests/dicomweb (npm ci)"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=600)
    p = subprocess.run(["node", "--test", "dicomweb.test.mjs"], cwd=HERE, capture_output=True,
                       text=True, timeout=600,
                       env=dict(os.environ, SEGWEB_BIN=BIN, SEGWEB_TESTDATA=TESTDATA))
    print(p.stdout[-6000:])
    print(p.stderr[-3000:])
    assert p.returncode == 0, "node --test failed (see output above)"
