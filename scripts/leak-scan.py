#!/usr/bin/env python3
"""The suite's leak scan (make test runs it after cargo test, inside the same local servers).

Collects every password the code under test generated during the suite — from every version of every secret in the
emulator, leaving out passwords written in the test sources (fixtures) and the servers' own administrator
passwords — and every RotationToken the tests sent or the strict layer in front of moto gave a rotation, then fails
if any of them appears in what the suite produced: the test output, the captured log lines, error messages and
binary output (tests/common: capture), PostgreSQL's server logs (every statement is logged), MariaDB's general and
error logs, and the strict layer's log. A finding is reported by file, line and the secret's id and version, never by
the password itself.

usage: leak-scan.py CARGO_TEST_OUTPUT
environment: LOCAL_SERVERS_DIR, AWS_* of scripts/local-servers.sh
"""
import glob
import json
import os
import re
import sys
import urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN_LENGTH = 12  # shorter strings would match by chance; generated passwords are 32 characters by default


def source_text():
    text = []
    for pattern in ("tests/**/*.rs", "benches/**/*.rs", "src/**/*.rs", "scripts/*", "events/*"):
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            if os.path.isfile(path):
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text.append(handle.read())
    return "\n".join(text)


def generated_passwords(sources):
    """(password, where) for every version's password that no source file writes out."""
    client = boto3.client("secretsmanager")
    admin = {os.environ.get(name, "") for name in ("TEST_PG_ADMIN_PASSWORD", "TEST_MARIADB_ADMIN_PASSWORD")}
    found, versions = {}, 0
    for page in client.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
        for secret in page["SecretList"]:
            name = secret["Name"]
            ids = client.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
            for version in ids:
                versions += 1
                try:
                    value = client.get_secret_value(SecretId=name, VersionId=version["VersionId"])
                except client.exceptions.ClientError:
                    continue
                try:
                    password = json.loads(value.get("SecretString") or "null")["password"]
                except (ValueError, TypeError, KeyError):
                    continue
                if not isinstance(password, str) or len(password) < MIN_LENGTH:
                    continue
                if password in admin or password in sources:
                    continue
                found.setdefault(password, f"secret {name}, version {version['VersionId']}")
    return found, versions


def rotation_tokens(sources):
    found = {token: "a RotationToken the tests sent" for token in re.findall(r'"(rotation-token[-\w]*)"', sources)}
    # Every token the strict layer in front of moto gave a rotation (tests/strict-secrets-manager.py).
    with urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/strict/tokens", timeout=10) as reply:
        for token in json.load(reply):
            found[token] = "a RotationToken the service (the strict layer) gave a rotation"
    return found


def scanned_files(cargo_output):
    servers = os.environ["LOCAL_SERVERS_DIR"]
    files = [cargo_output, os.path.join(servers, "captured.log"), os.path.join(servers, "strict.log")]
    files += glob.glob(os.path.join(servers, "pg-*", "log", "*"))
    files += glob.glob(os.path.join(servers, "mariadb-log", "*"))
    return [path for path in files if os.path.isfile(path)]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sources = source_text()
    passwords, versions = generated_passwords(sources)
    secrets = {**passwords, **rotation_tokens(sources)}
    files = scanned_files(sys.argv[1])
    findings, scanned_bytes = [], 0
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                scanned_bytes += len(line)
                for secret, where in secrets.items():
                    if secret in line:
                        findings.append(f"{path}:{number}: {where}")
    print(
        f"leak-scan: {len(passwords)} generated passwords (from {versions} secret versions) and "
        f"{len(secrets) - len(passwords)} RotationTokens, looked for in {len(files)} files ({scanned_bytes} bytes): "
        f"{len(findings)} found"
    )
    for finding in findings:
        print(f"leak-scan: LEAK {finding}")
    if not passwords:
        print("leak-scan: no generated password was found in the emulator: the scan proves nothing", file=sys.stderr)
        sys.exit(1)
    sys.exit(1 if findings else 0)


if __name__ == "__main__":
    main()
