#!/usr/bin/env python3
"""The docs match the code, as far as a script can tell: `make lint` runs it.

Usage: scripts/check-docs.py

1. Paths. Every repository path the docs name (`src/…`, `tests/…`, `scripts/…`, `docs/…`, a top-level file) exists.
2. Settings. Every environment variable the docs name (an upper-case name with an underscore, in backticks) is
   one the code, the Makefile or the scripts read; and every variable `src/config.rs` reads is described in
   docs/configuration.md and set by template.yaml.
3. Links. Every link from one document to another (`[…](docs/x.md#anchor)`, `[…](#anchor)`) reaches a file that
   exists and, where it names one, a heading (or an `<a id>`) there.
4. Size. The README stays a five-minute read: under 12 KB.

Exit status 0 when all hold; 1 with every problem listed.
"""
import glob
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TOP_DOCS = ["README.md", "ARCHITECTURE.md", "BENCHMARKS.md", "CHANGELOG.md"]
DOCS = [d for d in TOP_DOCS if os.path.exists(os.path.join(ROOT, d))]
DOCS += sorted(glob.glob("docs/*.md", root_dir=ROOT)) + sorted(glob.glob("docs/*/*.md", root_dir=ROOT))
DOCS += [d for d in ["cdk/README.md"] if os.path.exists(os.path.join(ROOT, d))]
README_LIMIT = 12 * 1024
TOP_LEVEL = ["Cargo.toml", "Cargo.lock", "Makefile", "template.yaml", "README.md", "ARCHITECTURE.md", "BENCHMARKS.md"]

PATH = re.compile(
    r"(?<![\w./-])((?:src|tests|scripts|docs|events|certs|benches|fuzz|\.ci|\.github)/[A-Za-z0-9_.*/-]*[A-Za-z0-9_*/])"
)
# Upper-case names the docs use that are not settings: SQL and the servers' own, CloudFormation's capabilities.
NOT_SETTINGS = {"CURRENT_USER", "SESSION_USER", "MAX_STATEMENT_TIME", "MAX_USER_CONNECTIONS", "NO_BACKSLASH_ESCAPES"}
NOT_SETTINGS |= {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_RESOURCE_POLICY", "CAPABILITY_AUTO_EXPAND"}
SETTING = re.compile(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\*?)(?:=[^`]*)?`")


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


LINK = re.compile(r"\]\(([^)\s]*)\)")


def anchors(doc):
    """The anchors a Markdown file has: GitHub's slug of each heading, and each `<a id="…">`."""
    found = set(re.findall(r'<a id="([^"]+)"', read(doc)))
    for heading in re.findall(r"^#+ (.+)$", read(doc), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        found.add(slug)
    return found


def link_problems(doc):
    """The links of `doc` that lead nowhere."""
    problems = []
    for lineno, line in enumerate(read(doc).splitlines(), 1):
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target) or not target:
                continue
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
            if not os.path.exists(os.path.join(ROOT, resolved)):
                problems.append(f"{doc}:{lineno}: links to {target}, which does not exist")
            elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                problems.append(f"{doc}:{lineno}: links to {target}, which has no such heading")
    return problems


def code_variables():
    """Every environment variable a part of the project reads or sets: the code, its tests and benchmarks, the
    Makefile, the scripts and CI."""
    names = set()
    rust = ["src/**/*.rs", "tests/**/*.rs", "benches/*.rs"]
    for path in [p for pattern in rust for p in glob.glob(pattern, root_dir=ROOT, recursive=True)]:
        names |= set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', read(path)))
    configs = ["Makefile", ".cargo/config.toml"]
    for path in configs + glob.glob("scripts/*", root_dir=ROOT) + glob.glob(".ci/*", root_dir=ROOT):
        text = read(path)
        names |= set(re.findall(r"\$\{?\(?([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)", text))
        names |= set(re.findall(r"^([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+) *[?:]?=", text, re.M))
        names |= set(re.findall(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)=", text))
    # Set by Lambda or read by the SDK and the Rust toolchain; the docs may name them.
    names |= {
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "CARGO_TARGET_DIR",
    }
    return names


def config_variables():
    text = read("src/config.rs")
    cut = text.find("#[cfg(test)]")
    return set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', text[: cut if cut >= 0 else None])) - {
        "CARGO_MANIFEST_DIR"
    }


def main():
    problems = []
    known = code_variables()
    for doc in DOCS:
        text = read(doc)
        for lineno, line in enumerate(text.splitlines(), 1):
            for match in PATH.finditer(line):
                path = match.group(1).rstrip(".")
                if "*" in path:
                    found = glob.glob(path, root_dir=ROOT)
                else:
                    found = os.path.exists(os.path.join(ROOT, path))
                if not found:
                    problems.append(f"{doc}:{lineno}: names {path}, which does not exist")
            for match in SETTING.finditer(line):
                name = match.group(1)
                matches = [k for k in known if k.startswith(name[:-1])] if name.endswith("*") else name in known
                if not matches and not name.startswith("TEST_") and name not in NOT_SETTINGS:
                    problems.append(f"{doc}:{lineno}: names the setting {name}, which nothing reads")
        problems += link_problems(doc)
    for name in TOP_LEVEL:
        if not os.path.exists(os.path.join(ROOT, name)):
            problems.append(f"{name} is missing")
    configuration = read("docs/configuration.md") if os.path.exists(os.path.join(ROOT, "docs/configuration.md")) else ""
    template = read("template.yaml")
    for name in sorted(config_variables()):
        if f"`{name}`" not in configuration:
            problems.append(f"docs/configuration.md does not describe {name}, which src/config.rs reads")
        if name != "RDS_ENDPOINT_MAP" and not re.search(rf"^\s+{name}:", template, re.M):
            problems.append(f"template.yaml does not set {name}, which src/config.rs reads")
    size = os.path.getsize(os.path.join(ROOT, "README.md"))
    if size >= README_LIMIT:
        problems.append(f"README.md is {size} bytes; keep it under {README_LIMIT} (the rest belongs in docs/)")
    for problem in problems:
        print(problem)
    print(f"check-docs: {len(problems)} problem(s) in {len(DOCS)} documents")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
