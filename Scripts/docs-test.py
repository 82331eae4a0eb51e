#!/usr/bin/env python3
"""Keeps the docs honest (run by Scripts/docs-test.sh, part of Scripts/test.sh).

1. Runs docs/getting-started.md: its ```sh blocks, in order, as one bash script, against the
   server Scripts/docs-test.sh started (ARBITER_URL, ARBITER_DATA).
2. Checks every command in README.md and docs/*.md (```sh and ```console blocks): each
   `arbiter …` command names subcommands and options the CLI has (`--help`); each `curl` names
   a method and path the OpenAPI document has (or the console's); each `Scripts/…` file exists.
Prints each finding and exits 1 if there is any.
"""
import os, re, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
arbiter = sys.argv[1]
docs = [os.path.join(root, "README.md")] + sorted(
    os.path.join(root, "docs", f) for f in os.listdir(os.path.join(root, "docs")) if f.endswith(".md"))
findings = []

def blocks(path, languages):
    text = open(path).read()
    for match in re.finditer(r"^```(\w+)\n(.*?)^```", text, re.S | re.M):
        if match.group(1) in languages:
            yield match.group(2)

def commands(block):
    """Command lines of a block: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    for line in joined.split("\n"):
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            yield line

# 1. The walkthroughs run: the README's five minutes, then getting started (its own events).
for walkthrough, expect in [("README.md", '"outcome": "review"'), ("docs/getting-started.md", "audit chain intact")]:
    script = "set -euo pipefail\n" + "\n".join(blocks(os.path.join(root, walkthrough), {"sh"}))
    run = subprocess.run(["bash", "-c", script], cwd=root, capture_output=True, text=True, timeout=300)
    if run.returncode != 0 or expect not in run.stdout:
        findings.append("%s: the walkthrough failed (exit %d, expected %r)\n%s\n%s" % (walkthrough, run.returncode, expect, run.stdout[-3000:], run.stderr[-3000:]))

# 2. Every command names what exists.
openapi = open(os.path.join(root, "Sources/ArbiterServer/Resources/openapi.yaml")).read()
operations = {}
path = None
for line in openapi.split("\n"):
    m = re.match(r"^  (/\S*):$", line)
    if m:
        path = m.group(1)
        operations[path] = set()
    m = re.match(r"^    (get|post|put|delete|patch):$", line)
    if m and path:
        operations[path].add(m.group(1).upper())
patterns = [(re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "$"), methods) for p, methods in operations.items()]

help_cache = {}
def cli_help(words):
    key = tuple(words)
    if key not in help_cache:
        out = subprocess.run([arbiter] + words + ["--help"], capture_output=True, text=True)
        help_cache[key] = (out.returncode, out.stdout + out.stderr)
    return help_cache[key]

for doc in docs:
    name = os.path.relpath(doc, root)
    for block in blocks(doc, {"sh", "console"}):
        for line in commands(block):
            for part in re.split(r"\s*(?:\|\||&&|\||;|\$\()\s*", line):
                tokens = part.split()
                if not tokens:
                    continue
                head = tokens[0]
                if head.endswith("/arbiter") or head == "arbiter":
                    words = []
                    for token in tokens[1:]:
                        if token.startswith("-") or not re.match(r"^[a-z][a-z-]*$", token):
                            break
                        # a subcommand is one its parent's help lists under SUBCOMMANDS
                        _, parent = cli_help(words)
                        listed = parent.split("SUBCOMMANDS:", 1)[1] if "SUBCOMMANDS:" in parent else ""
                        if not re.search(r"^\s+%s(\s|$)" % re.escape(token), listed, re.M):
                            if listed and "ARGUMENTS:" not in parent:
                                findings.append("%s: `arbiter %s` has no subcommand %s" % (name, " ".join(words), token))
                            break
                        words.append(token)
                    _, text = cli_help(words)
                    for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", part):
                        if option not in text and option != "--help":
                            findings.append("%s: `arbiter %s` has no option %s (in: %s)" % (name, " ".join(words), option, part.strip()))
                elif head == "curl" or " curl " in " " + part:
                    method = "GET"
                    m = re.search(r"-X\s+(\w+)", part)
                    if m:
                        method = m.group(1)
                    elif re.search(r"\s(-d|--data\S*|-F)\s", part):
                        method = "POST"
                    m = re.search(r"(?:localhost|127\.0\.0\.1)(?::8080)?(/[^\s\"'?]*)|\$BASE(/[^\s\"'?]*)|\$\{?ARBITER_SERVER\}?(/[^\s\"'?]*)", part)
                    if not m:
                        continue
                    url = next(g for g in m.groups() if g)
                    url = re.sub(r"\$\{?\w+\}?|<[^>]+>", "x", url).rstrip("/") or "/"
                    if url.startswith("/console"):
                        continue
                    methods = next((ms for rx, ms in patterns if rx.match(url)), None)
                    if methods is None:
                        findings.append("%s: %s %s is not in the OpenAPI document (in: %s)" % (name, method, url, part.strip()))
                    elif method not in methods:
                        findings.append("%s: %s %s is not documented; the path has %s" % (name, method, url, sorted(methods)))
                elif head.startswith("Scripts/") or head in ("bash", "python3") and len(tokens) > 1 and tokens[1].startswith("Scripts/"):
                    target = head if head.startswith("Scripts/") else tokens[1]
                    if not os.path.exists(os.path.join(root, target)):
                        findings.append("%s: %s does not exist" % (name, target))

for finding in findings:
    print(finding)
print("docs test: %d finding(s) in %d files" % (len(findings), len(docs)))
sys.exit(1 if findings else 0)
