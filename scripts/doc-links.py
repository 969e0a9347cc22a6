#!/usr/bin/env python3
"""Checks every relative link of the repository's Markdown (README, the guide in docs/,
ARCHITECTURE and the rest): the file must exist and, for a link to a heading, the heading
too (GitHub's anchor rules). Exits 1 naming each broken link."""
import glob
import os
import re
import sys

os.chdir(os.path.join(os.path.dirname(__file__), ".."))


def slug(heading):
    t = heading.lstrip("#").strip().lower()
    t = re.sub(r"[^\w\- ]", "", t)
    return t.replace(" ", "-")


def anchors(path):
    found, code = set(), False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            code = not code
        if not code and re.match(r"^#{1,6} ", line):
            found.add(slug(line.strip()))
    return found


files = [f for f in glob.glob("*.md") + glob.glob("docs/*.md") + glob.glob("*/README.md")
         + glob.glob("bench/results/*/*.md")]
bad = []
for p in files:
    text = open(p, encoding="utf-8").read()
    for m in re.finditer(r"\]\(([^)\s]+)\)", text):
        target = m.group(1)
        if re.match(r"^(https?:|mailto:)", target):
            continue
        path, _, anchor = target.partition("#")
        f = os.path.normpath(os.path.join(os.path.dirname(p), path)) if path else p
        if not os.path.exists(f):
            bad.append(f"{p}: {target}: no such file")
        elif anchor and f.endswith(".md") and anchor not in anchors(f):
            bad.append(f"{p}: {target}: no such heading")
for b in bad:
    print(b)
print(f"doc-links: {len(files)} files, {'broken: ' + str(len(bad)) if bad else 'every link resolves'}")
sys.exit(1 if bad else 0)
