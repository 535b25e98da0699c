#!/usr/bin/env python3
"""Checks make release (scripts/release.sh) runs on what it built, before it writes SHA256SUMS.

Usage:
  scripts/release-check.py sbom-same SBOM_A SBOM_B
      the two CycloneDX SBOMs (arm64's and x86_64's dependency graphs) list the same components, so that one SBOM
      describes both zips
  scripts/release-check.py audit SBOM AUDIT_JSON...
      each binary's embedded dependency list (cargo-auditable's, as rust-audit-info prints it) names rds-rotator at
      the SBOM's version as its root, and every crate it names is a component of the SBOM; prints the counts

Exit status 0 when the check holds; 1 with what differs.
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


def sbom_same(a, b):
    left, right = components(load(a)), components(load(b))
    if left != right:
        print(f"{a} and {b} list different components:")
        for name, version in sorted(left - right):
            print(f"  only in {os.path.basename(a)}: {name} {version}")
        for name, version in sorted(right - left):
            print(f"  only in {os.path.basename(b)}: {name} {version}")
        return 1
    print(f"release-check: the SBOMs of both targets list the same {len(left)} components")
    return 0


def audit(sbom_path, audits):
    sbom = load(sbom_path)
    listed = components(sbom)
    subject = sbom.get("metadata", {}).get("component", {})
    problems = []
    for path in audits:
        packages = load(path).get("packages", [])
        roots = [p for p in packages if p.get("root")]
        if len(roots) != 1 or roots[0]["name"] != "rds-rotator" or roots[0]["version"] != subject.get("version"):
            problems.append(f"{path}: the root is {roots}, not rds-rotator {subject.get('version')}")
        crates = {(p["name"], p["version"]) for p in packages if not p.get("root")}
        missing = sorted(crates - listed)
        for name, version in missing:
            problems.append(f"{path}: {name} {version} is in the binary but not in the SBOM")
        runtime = sum(1 for p in packages if p.get("kind", "runtime") == "runtime" and not p.get("root"))
        print(
            f"release-check: {os.path.basename(path)}: {len(crates)} crates embedded ({runtime} linked in, "
            f"{len(crates) - runtime} build-time), all in the SBOM's {len(listed)} components"
            if not missing
            else f"release-check: {os.path.basename(path)}: {len(missing)} of {len(crates)} crates not in the SBOM"
        )
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def main():
    match sys.argv[1:]:
        case ["sbom-same", a, b]:
            return sbom_same(a, b)
        case ["audit", sbom, *audits] if audits:
            return audit(sbom, audits)
        case _:
            print(__doc__.strip(), file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
