"""The docs stay true to the code: README.md and docs/*.md against api/route_table.c,
server/config.c (through `segweb serve --help`), the CLI's --help and the tree.

- every backticked repository path in README.md and docs/*.md exists (a renamed or
  removed file leaves a stale name behind; globs like `writer/*_dcmtk.cc` must match);
- every row of api/route_table.c (pattern + methods) is in the route index of
  docs/HTTP.md, and every row of that index is in the table;
- every flag of `segweb serve --help` is in the configuration table of docs/HTTP.md with
  the same environment variable, default and range, and nothing else is there;
- every subcommand of `segweb --help` and every option its --help names is in the
  README's Command line block;
- every script in scripts/ is in the README's scripts table.
The oracle is the code itself (route table, --help), never the docs. Runs in ~1 s."""
import glob
import os
import re
import subprocess

import pytest

from conftest import BIN, REPO, needs_binary

DOCS = [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
TOP = {e for e in os.listdir(REPO) if not e.startswith(".")} | {".ci"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def backticked(text):
    return re.findall(r"`([^`\n]+)`", text)


def repo_path_candidates(text):
    """Backticked spans that name a file or folder of this repository."""
    out = set()
    for span in backticked(text):
        span = span.strip()
        if " " in span or "<" in span or "{" in span or span.startswith(("../", "/", "http")):
            continue
        first = span.split("/")[0]
        if "/" in span and first in TOP:
            out.add(span.rstrip("/"))
        elif "/" not in span and first in TOP and "." in first:
            out.add(span)  # a top-level file: `Dockerfile`, `README.md`
    return out


@pytest.mark.parametrize("doc", DOCS, ids=[os.path.relpath(d, REPO) for d in DOCS])
def test_backticked_paths_exist(doc):
    missing = []
    for p in sorted(repo_path_candidates(read(doc))):
        base = p.split(":")[0].split("#")[0]
        if not glob.glob(os.path.join(REPO, base)):
            missing.append(p)
    assert not missing, f"{os.path.relpath(doc, REPO)} names paths that do not exist: {missing}"
