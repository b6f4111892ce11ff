#!/usr/bin/env python3
"""What a release binary says it contains, against Cargo.lock, its SBOM and the notices.

Usage: check-sbom.py TARGET AUDIT_JSON SBOM_JSON NOTICES
  TARGET      the binary's target triple (x86_64-unknown-linux-musl, ...)
  AUDIT_JSON  the crate list read back from the binary (rust-audit-info BINARY)
  SBOM_JSON   the release's CycloneDX SBOM of that binary (auditable2cdx)
  NOTICES     THIRD-PARTY-NOTICES

From `cargo tree -e normal --target TARGET` (Cargo.lock's graph for that target) it works
out two sets: the crates reached from ec2-assume-role through normal dependencies (what
`cargo tree -e normal` shows), and of those the ones linked into the binary: reached without
passing through a proc-macro crate, whose code runs in the compiler and is never linked.
Then it checks, printing one line each and exiting 1 on the first that fails:
  - the binary's runtime list holds every linked crate, and nothing outside the normal graph;
    the ones it adds are proc-macro crates and their dependencies, which cargo-auditable
    counts as runtime when their package has test targets (its own heuristic);
  - the binary's list covers the whole normal graph (runtime or build-time);
  - the SBOM validates against the CycloneDX schema of its specVersion (cyclonedx-python-lib's
    strict validator), and a copy with a broken component does not;
  - the SBOM names exactly the crates of the binary's list;
  - the notices name exactly the normal graph but our own crate, so every linked crate.
Run with the test venv's python (cyclonedx-python-lib).
"""

import json
import subprocess
import sys


def fail(message):
    print(f"check-sbom: {message}", file=sys.stderr)
    sys.exit(1)


def show(items):
    return ", ".join(f"{n} {v}" for n, v in sorted(items)[:12]) + (" ..." if len(items) > 12 else "")


def graph(target):
    """(normal, linked, ours): the crates `cargo tree -e normal` shows for our package on
    `target` (Cargo.lock's graph with the features a release build resolves, so no crate that
    only a dev-dependency's features pull in), the part of them not reached through a
    proc-macro crate, and our own (name, version)."""
    out = subprocess.run(
        ["cargo", "tree", "--locked", "--offline", "-e", "normal", "--target", target,
         "-p", "ec2-assume-role", "--no-dedupe", "--prefix", "depth", "--format", "{p}"],
        check=True, capture_output=True, text=True).stdout
    normal, linked, ours = set(), set(), None
    # The proc-macro crates on the path to the current line, by depth.
    path = []
    for line in out.splitlines():
        digits = len(line) - len(line.lstrip("0123456789"))
        depth, fields = int(line[:digits]), line[digits:].split()
        crate = (fields[0], fields[1].lstrip("v"))
        del path[depth:]
        path.append("(proc-macro)" in fields)
        normal.add(crate)
        if not any(path):
            linked.add(crate)
        if depth == 0:
            ours = crate
    return normal, linked, ours


def main():
    if len(sys.argv) != 5:
        fail(__doc__.splitlines()[2])
    target, audit_path, sbom_path, notices_path = sys.argv[1:]
    normal, linked, ours = graph(target)

    audit = json.load(open(audit_path))["packages"]
    runtime = {(p["name"], p["version"]) for p in audit if p.get("kind", "runtime") == "runtime"}
    build = {(p["name"], p["version"]) for p in audit if p.get("kind") == "build"}
    if not linked <= runtime:
        fail(f"{target}: the binary's list lacks linked crates: {show(linked - runtime)}")
    if not runtime <= normal:
        fail(f"{target}: the binary's list has crates outside Cargo.lock's graph: {show(runtime - normal)}")
    if not normal <= runtime | build:
        fail(f"{target}: the binary's list lacks crates of the graph: {show(normal - runtime - build)}")
    print(f"{target}: {len(linked)} crates linked (ours included); the binary lists all of them, "
          f"{len(runtime)} as runtime ({len(runtime - linked)} proc-macro crates among them) and "
          f"{len(build)} as build-time")

    text = open(sbom_path).read()
    sbom = json.loads(text)
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    version = SchemaVersion.from_version(sbom["specVersion"])
    error = JsonStrictValidator(version).validate_str(text)
    if error is not None:
        fail(f"{sbom_path} is not valid CycloneDX {sbom['specVersion']}: {error}")
    broken = json.loads(text)
    broken["components"][0]["type"] = "no-such-type"
    if JsonStrictValidator(version).validate_str(json.dumps(broken)) is None:
        fail("the CycloneDX validator accepted a component of type 'no-such-type': it checks nothing")
    named = {(c["name"], c["version"]) for c in sbom["components"]}
    top = sbom["metadata"]["component"]
    named.add((top["name"], top["version"]))
    if named != runtime | build:
        fail(f"{sbom_path} and the binary's list differ: only in the SBOM {show(named - runtime - build)}; "
             f"only in the binary {show(runtime | build - named)}")
    print(f"{sbom_path}: valid CycloneDX {sbom['specVersion']}, {len(sbom['components'])} components "
          f"and {top['name']} {top['version']}: the binary's list exactly")

    notices, on = set(), False
    for line in open(notices_path):
        if line.rstrip() == "Crates:":
            on = True
        elif on and not line.strip():
            break
        elif on:
            name, version = line.split(":")[0].split()
            notices.add((name, version))
    if notices != normal - {ours}:
        fail(f"{notices_path} and Cargo.lock's graph differ: only in the notices {show(notices - normal)}; "
             f"not in the notices {show(normal - {ours} - notices)}")
    print(f"{notices_path}: {len(notices)} crates, every crate of the graph but ours "
          f"({len(linked) - 1} linked, {len(notices) - len(linked) + 1} proc-macro crates and theirs)")


if __name__ == "__main__":
    main()
