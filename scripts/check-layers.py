#!/usr/bin/env python3
"""The module structure ARCHITECTURE.md describes, checked: `make lint` and `.ci/run` run it.

Usage: scripts/check-layers.py [SRC_DIR]   (default: src)
       scripts/check-layers.py --self-test  (puts known breaches into copies of src/ and checks each is caught)

Unit tests (`#[cfg(test)]` items, `tests.rs` files and `tests/` folders under src/) are not checked.

1. Layers. Every top-level module of the crate has a layer (LAYERS below). Non-test code may import (`crate::NAME`)
   only modules of a lower layer, so the modules form no circle and each can be read with only what is below it.
   A module missing from the table is an error: a new module says where it sits.
2. The core does no I/O. `src/rotation/` names no SDK, driver or socket crate, and of `engines` and `aws` only the
   port (the traits and their value types in `engines/mod.rs`), never a driver or an AWS implementation.
3. Audited SQL. An `Sql` value is constructed only in an engine's statement builders (`postgres/sql.rs`,
   `mysql/sql/`) and the type's own file.

Exit status 0 when all hold; 1 with every breach listed.
"""
import os
import re
import sys

SRC = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), "src")

# Lower numbers first. Imports go strictly downwards.
LAYERS = {
    # The domain's value types: used by everything, using nothing of the crate.
    "domain": 0,
    # Values with their parsing, and the ports (traits) the core calls.
    "secret": 1, "password": 1, "event": 1, "metrics": 1, "tls": 1, "logging": 1, "store": 1, "rds": 1,
    # Adapters: the database drivers (and the `DbEngine` port in engines/mod.rs), the AWS SDK implementations.
    "engines": 2, "aws": 2,
    # The protocol core.
    "rotation": 3,
    # Settings from the environment, owned by each part and gathered here; one invocation in and out.
    "config": 4, "handler": 4,
    # The operators' commands over many secrets, on the core and the catalog port.
    "fleet": 4,
    # The one assembly point.
    "app": 5,
    # The binary's modes.
    "cli": 6,
}

CORE_FORBIDDEN = re.compile(
    r"\b(aws_sdk_\w+|aws_config|aws_smithy_\w+|tokio_postgres|postgres_protocol|mysql_async|rustls|tokio_rustls"
    r"|std::net|std::fs|tokio::net|tokio::fs|lambda_runtime"
    r"|crate::aws|crate::engines::([a-z_]+::|drivers|login|sql|Drivers|AnySession)|crate::app|crate::config"
    r"|crate::cli"
    r"|crate::handler)\b"
)
# Each engine's statement builders: its folder's sql.rs, or the files of its sql/ folder.
SQL_BUILDERS = re.compile(r"^engines/(sql\.rs|[a-z_]+/sql\.rs|[a-z_]+/sql/[^/]+\.rs)$")
SQL_CONSTRUCTION = re.compile(r"(?<![\w:])Sql\s*\(")


def strip_tests(text):
    """The file's text without its unit tests (`#[cfg(test)]` items: a `mod tests { … }` block, a `mod tests;`
    declaration, a test-only `use` or function), and without comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for match in re.finditer(r"#\[cfg\(test\)\]", text):
        if match.start() < i:
            continue
        out.append(text[i : match.start()])
        j = match.end()
        # The item the attribute applies to: up to its `;`, or its `{ … }` block, whichever comes first.
        depth = 0
        while j < len(text):
            ch = text[j]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    j += 1
                    break
            elif ch == ";" and depth == 0:
                j += 1
                break
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def imported_modules(text, rel):
    """(line, module) for each top-level module of the crate that `text` names: `crate::NAME`, the names inside
    `crate::{…}`, and `super::` paths that climb out of the file's own top-level module."""
    parts = rel.removesuffix(".rs").split("/")
    if parts[-1] == "mod":
        parts = parts[:-1]
    for lineno, line in enumerate(text.splitlines(), 1):
        for match in re.finditer(r"\bcrate::(\{[^}]*\}|[a-z_][a-z0-9_]*)", line):
            names = match.group(1)
            if names.startswith("{"):
                for name in re.findall(r"(?:^|[{,])\s*([a-z_][a-z0-9_]*)", names):
                    yield lineno, name
            else:
                yield lineno, names
        for match in re.finditer(r"\b((?:super::)+)([a-z_][a-z0-9_]*)", line):
            ups = match.group(1).count("super::")
            # A file's own module is parts; `super` from it is parts[:-1].
            base = parts[: len(parts) - ups]
            if not base:
                yield lineno, match.group(2)


def check(src):
    problems = []
    for dirpath, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith(".rs") or name == "tests.rs" or "/tests/" in dirpath.replace(os.sep, "/") + "/":
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            top = rel.split("/")[0].removesuffix(".rs")
            if top in ("lib", "main"):
                continue
            text = strip_tests(open(path, encoding="utf-8").read())
            if top not in LAYERS:
                problems.append(f"{rel}: module `{top}` has no layer in scripts/check-layers.py (LAYERS)")
                continue
            for lineno, other in imported_modules(text, rel):
                if other == top or other not in LAYERS:
                    continue
                if LAYERS[other] >= LAYERS[top]:
                    problems.append(
                        f"{rel}:{lineno}: `{top}` (layer {LAYERS[top]}) imports `{other}` (layer {LAYERS[other]}); "
                        "imports go to lower layers only"
                    )
            for lineno, line in enumerate(text.splitlines(), 1):
                if top == "rotation":
                    for match in CORE_FORBIDDEN.finditer(line):
                        problems.append(
                            f"{rel}:{lineno}: the protocol core names `{match.group(0)}`; it calls only the ports "
                            "(SecretStore, RdsApi, DbEngine and the session traits)"
                        )
                if SQL_CONSTRUCTION.search(line) and not SQL_BUILDERS.match(rel):
                    problems.append(f"{rel}:{lineno}: constructs an `Sql` outside an engine's statement builders")
    return problems


# Breaches the check must catch, each put into a copy of the sources (`--self-test`, run by `make lint`).
MUTATIONS = [
    ("rotation/mod.rs", "use crate::config::Config;"),
    ("rotation/mod.rs", "use crate::engines::Drivers;"),
    ("rotation/mod.rs", "fn f() { let _ = std::net::TcpStream::connect(\"x\"); }"),
    ("rotation/preflight.rs", "use crate::{app::Parts, cli};"),
    ("secret/mod.rs", "use super::rotation::Error;"),
    ("domain/mod.rs", "use crate::secret::DbSecret;"),
    ("rotation/stages.rs", "fn g() -> crate::engines::sql::Sql { Sql(Cow::Borrowed(\"\")) }"),
]


def self_test(src):
    import shutil
    import tempfile

    failed = []
    for rel, line in MUTATIONS:
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "src")
            shutil.copytree(src, copy)
            target = os.path.join(copy, rel)
            text = open(target, encoding="utf-8").read()
            # After the file's inner attributes and docs, before everything else.
            lines = text.split("\n")
            at = next(i for i, l in enumerate(lines) if l and not l.startswith(("//!", "#![")))
            lines.insert(at, line)
            open(target, "w", encoding="utf-8").write("\n".join(lines))
            if not check(copy):
                failed.append(f"{rel}: {line}")
    for breach in failed:
        print(f"check-layers self-test: not caught: {breach}")
    print(f"check-layers self-test: {len(MUTATIONS) - len(failed)} of {len(MUTATIONS)} breaches caught")
    return 1 if failed else 0


def main():
    if "--self-test" in sys.argv[1:]:
        return self_test("src")
    problems = check(SRC)
    for problem in problems:
        print(problem)
    print(f"check-layers: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
