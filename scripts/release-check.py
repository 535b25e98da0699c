#!/usr/bin/env python3
"""make release (scripts/release.sh) checks one zip's SBOM against the dependency list embedded in its binary.

Usage: scripts/release-check.py SBOM.cdx.json AUDIT.json

SBOM is cargo-cyclonedx's CycloneDX document for the zip's target; AUDIT is what rust-audit-info read from the
binary's .dep-v0 section (cargo-auditable's). The check: the embedded list's root is rds-rotator at the SBOM's
version, and every crate the binary says it was built from is a component of the SBOM. It prints the counts.

Exit status 0 when that holds; 1 with each crate missing from the SBOM; 2 on bad usage.
"""
import json
import os
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def components(sbom):
    """(name, version) of every component of a CycloneDX document, nested ones included."""
    found = set()
    stack = list(sbom.get("components", []))
    while stack:
        component = stack.pop()
        found.add((component["name"], component.get("version", "")))
        stack.extend(component.get("components", []))
    return found


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    sbom_path, audit_path = sys.argv[1:]
    sbom = load(sbom_path)
    listed = components(sbom)
    version = sbom.get("metadata", {}).get("component", {}).get("version")
    packages = load(audit_path).get("packages", [])
    problems = []
    roots = [p for p in packages if p.get("root")]
    if [(p["name"], p["version"]) for p in roots] != [("rds-rotator", version)]:
        problems.append(f"{audit_path}: the root is {roots}, not rds-rotator {version}")
    crates = {(p["name"], p["version"]) for p in packages if not p.get("root")}
    for name, crate_version in sorted(crates - listed):
        problems.append(f"{audit_path}: {name} {crate_version} is in the binary but not in {sbom_path}")
    for problem in problems:
        print(problem)
    if problems:
        return 1
    build_time = sum(1 for p in packages if p.get("kind") == "build")
    print(
        f"release-check: {os.path.basename(audit_path)}: {len(crates)} crates embedded ({len(crates) - build_time} "
        f"linked in, {build_time} build-time), every one in {os.path.basename(sbom_path)}'s {len(listed)} components"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
