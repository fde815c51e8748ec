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
- every script in scripts/ is in the README's scripts table;
- relative Markdown links lead to existing files and #anchors to existing headings.
The oracle is the code itself (route table, --help), never the docs. Runs in ~1 s."""
import concurrent.futures
import glob
import os
import re
import subprocess

import pytest

from conftest import BIN, REPO, needs_binary

DOCS = [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
# top-level entries of the repository (build directories are made, not kept: not checked)
TOP = {e for e in os.listdir(REPO) if not e.startswith((".", "build"))} | {".ci"}


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


def section(text, heading):
    """The text of a Markdown section from its heading to the next of the same level."""
    level = heading.split(" ")[0]
    start = text.index(heading + "\n")
    m = re.compile(r"^" + level + r" ", re.M).search(text, start + len(heading) + 1)
    return text[start:m.start() if m else len(text)]


def table_rows(text):
    """Data rows of the Markdown tables in text, as lists of stripped cells."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def route_table():
    """(pattern, method) of every row of api/route_table.c."""
    src = read(os.path.join(REPO, "api", "route_table.c"))
    rows = re.findall(r'^\s*\{"([^"]+)",\s*"[a-z_]+",\s*(API_GET|API_POST|API_DELETE)\b', src, re.M)
    assert len(rows) > 30, "api/route_table.c: rows not found (format changed?)"
    return {(p, m[4:]) for p, m in rows}


def test_every_route_documented():
    rows = table_rows(section(read(os.path.join(REPO, "docs", "HTTP.md")), "## Every route"))
    documented = {(r[0].strip("`"), r[1]) for r in rows[1:]}
    code = route_table()
    assert not code - documented, f"routes missing from docs/HTTP.md's 'Every route': {sorted(code - documented)}"
    assert not documented - code, f"docs/HTTP.md's 'Every route' has rows api/route_table.c lacks: {sorted(documented - code)}"


def serve_help():
    """{flag: (env, default, range)} from `segweb serve --help` (server/config.c's table)."""
    out = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    flags, flag = {}, None
    for line in out.splitlines():
        m = re.match(r"^  (--[a-z0-9-]+)", line)
        if m:
            flag = m.group(1)
            continue
        m = re.match(r"^\s+env (SEGWEB_[A-Z0-9_]+)(.*)$", line)
        if m and flag:
            env, rest = m.groups()
            d = re.search(r"default '([^']*)'", rest)
            default = d.group(1) if d else ("0" if "a flag, off" in rest else "")
            r = re.search(r"(\d+)\.\.(\d+)", rest)
            flags[flag] = (env, default, (int(r.group(1)), int(r.group(2))) if r else None)
    assert len(flags) > 20, f"`segweb serve --help` format changed:\n{out}"
    return flags


def number(text):
    """A limit as the docs write it: 1048576, 2^31-1, 10^8."""
    text = text.replace("^", "**")
    assert re.fullmatch(r"[0-9*+\- ]+", text), text
    return int(eval(text))  # digits and operators only (checked above)


def doc_default(cell):
    cell = cell.replace("`", "").strip()
    if cell in ("none", "system CAs"):
        return ""
    if cell == "off":
        return "0"
    return cell.split(" (")[0]


@needs_binary
def test_serve_options_documented_with_their_defaults():
    rows = table_rows(section(read(os.path.join(REPO, "docs", "HTTP.md")), "## Configuration"))
    doc = {}
    for r in rows:
        if r[0].startswith("`--"):
            doc[r[0].strip("`")] = r
    code = serve_help()
    assert set(code) == set(doc), (f"docs/HTTP.md Configuration vs `segweb serve --help`: missing "
                                   f"{sorted(set(code) - set(doc))}, not in the code {sorted(set(doc) - set(code))}")
    wrong = []
    for flag, (env, default, rng) in sorted(code.items()):
        row = doc[flag]
        if row[1].strip("`") != env:
            wrong.append(f"{flag}: env {row[1]} != {env}")
        if doc_default(row[2]) != default:
            wrong.append(f"{flag}: default {row[2]!r} != {default!r}")
        if rng:
            lo, _, hi = row[3].partition("..")
            if not hi or (number(lo), number(hi)) != rng:
                wrong.append(f"{flag}: limits {row[3]!r} != {rng[0]}..{rng[1]}")
        elif row[3]:
            wrong.append(f"{flag}: limits {row[3]!r}, the code has none")
    assert not wrong, "docs/HTTP.md Configuration disagrees with server/config.c:\n" + "\n".join(wrong)


def readme_command_line():
    return section(read(os.path.join(REPO, "README.md")), "## Command line")


def command_block(doc, command):
    """The README's lines for one subcommand: each `segweb COMMAND ...` line and the
    indented lines that continue it."""
    out, inside = [], False
    for line in doc.splitlines():
        if line.startswith("segweb "):
            inside = line.split()[1] == command
        elif not line.startswith(" "):
            inside = False
        if inside:
            out.append(line)
    return "\n".join(out)


def usage_of(command):
    """Its usage text: from --help, or from the usage error of those that take no --help."""
    p = subprocess.run([BIN, command, "--help"], capture_output=True, text=True, timeout=30)
    if "usage" not in p.stdout + p.stderr:
        p = subprocess.run([BIN, command], capture_output=True, text=True, timeout=30)
    return p.stdout + p.stderr


@needs_binary
def test_every_subcommand_and_option_in_readme():
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30).stdout
    commands = re.findall(r"^  ([a-z]+) ", out, re.M)
    assert len(commands) >= 8, f"`segweb --help` format changed:\n{out}"
    doc = readme_command_line()
    missing = [c for c in commands if not re.search(r"^segweb " + c + r"\b", doc, re.M)]
    assert not missing, f"README.md Command line lacks subcommands {missing}"
    wrong = []
    others = [c for c in commands if c != "serve"]  # serve: test_serve_options_documented_...
    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # each start loads DCMTK's dictionary
        usages = pool.map(usage_of, others)
    for c, usage in zip(others, usages):
        block = command_block(doc, c)
        for opt in sorted(set(re.findall(r"(--[a-z][a-z0-9-]*)", usage)) - {"--help"}):
            if not re.search(re.escape(opt) + r"\b", block):
                wrong.append(f"{c} {opt}")
    assert not wrong, f"README.md Command line lacks options: {wrong}"


def test_every_script_in_readme():
    rows = table_rows(section(read(os.path.join(REPO, "README.md")), "## Layout"))
    listed = " ".join(r[0] for r in rows)
    scripts = sorted(os.listdir(os.path.join(REPO, "scripts")))
    missing = [s for s in scripts if f"scripts/{s}" not in listed and f"`scripts/{s}`" not in " ".join(" ".join(r) for r in rows)]
    assert not missing, f"README.md's scripts table lacks {missing}"


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("doc", DOCS, ids=[os.path.relpath(d, REPO) for d in DOCS])
def test_links_resolve(doc):
    """Relative Markdown links name existing files, and #anchors existing headings."""
    text, bad = read(doc), []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        if not os.path.exists(full):
            bad.append(target)
        elif anchor and full.endswith(".md"):
            headings = {slug(h) for h in re.findall(r"^#+ (.*)$", read(full), re.M)}
            if anchor not in headings:
                bad.append(target)
    assert not bad, f"{os.path.relpath(doc, REPO)}: links that lead nowhere: {bad}"
