#!/usr/bin/env bash
# make demo: a complete rotation against local servers, showing what happened. No AWS account is involved:
# Secrets Manager is moto_server; the databases are a throwaway PostgreSQL cluster and MariaDB server with password
# authentication.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

if [ "${1:-}" != "--with-servers" ]; then
    # Wherever cargo puts it: ./target, CARGO_TARGET_DIR, a workspace's target directory.
    # RDS_ROTATOR_BIN: a binary already built (CI passes the one its tests ran); otherwise cargo builds one.
    [ -n "${RDS_ROTATOR_BIN:-}" ] || RDS_ROTATOR_BIN=$(built_binary) || die "cargo build failed"
    [ -x "$RDS_ROTATOR_BIN" ] || die "cargo built no rds-rotator binary"
    export RDS_ROTATOR_BIN
    exec scripts/local-servers.sh run -- "$0" --with-servers
fi

BIN="$RDS_ROTATOR_BIN"
# shellcheck source=scripts/seed.sh
. "$ROOT/scripts/seed.sh"

bold() { if [ -t 1 ]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n%s\n' "$*"; fi; }
show() { printf '$ %s\n' "$*"; }

# The secrets have no "ssl" key, so the default applies: verified TLS. The local servers' certificates come from a
# throwaway CA, which the function is told to trust beside the built-in RDS CAs.
export DB_EXTRA_CA_BUNDLE="$TEST_TLS_CA"
# The master secrets alternating users may use: the demo's one (by name).
export MASTER_SECRET_ARNS="rds-rotator/demo-master"

bold "1. Local servers"
echo "PostgreSQL $(admin_sql 'SHOW server_version') on $TEST_PG_HOST:$TEST_PG_PORT, password authentication, TLS, every statement logged"
echo "MariaDB $(maria_admin 'SELECT VERSION()') on $TEST_MARIADB_HOST:$TEST_MARIADB_PORT, password authentication, TLS, general log on"
echo "TLS certificates for \"$TEST_TLS_HOST\" from a throwaway CA, trusted through DB_EXTRA_CA_BUNDLE"
echo "Secrets Manager: moto_server at $TEST_MOTO_URL, behind the real service's rules (tests/strict-secrets-manager.py) at $AWS_ENDPOINT_URL"

bold "2. A database user and its secret (RDS format, no \"ssl\" key: verified TLS, with a key of the user's own)"
seed_postgres_demo
sm shape "$SECRET"
echo "login as $USER_NAME with the initial password: $(login $USER_NAME "$INITIAL_PASSWORD")"
show "rds-rotator check $SECRET"
"$BIN" check "$SECRET"
show "rds-rotator status $SECRET"
# Exit status 1: rotation is not switched on for it yet.
"$BIN" status "$SECRET" || echo "(exit status $?: the secret needs attention)"

bold "3. One rotation, step by step, with the sample events in events/ (as Secrets Manager invokes the function)"
sm stage "$SECRET" "$TOKEN"
echo "RotateSecret (emulated) staged an empty AWSPENDING version $TOKEN"
events=$(mktemp -d)
for step in createSecret setSecret testSecret finishSecret; do
    # The sample with the secret's ARN and this rotation's RotationToken, as the service sends it.
    sm event "$SECRET" "$step" >"$events/$step.json"
    show "rds-rotator events/$step.json   (its SecretId and RotationToken as the service sends them: the ARN, this rotation's token)"
    "$BIN" "$events/$step.json"
done
rm -rf "$events"
sm versions "$SECRET"

bold "4. Two more rotations, the binary playing Secrets Manager"
for _ in 1 2; do
    show "rds-rotator rotate $SECRET"
    RUST_LOG=warn "$BIN" rotate "$SECRET"
done

bold "5. The same on MariaDB"
maria_admin "CREATE USER '$USER_NAME'@'%' IDENTIFIED BY '$INITIAL_PASSWORD'"
sm create "$SECRET-mariadb" "{\"engine\":\"mariadb\",\"host\":\"$TEST_TLS_HOST\",\"port\":$TEST_MARIADB_PORT,\"username\":\"$USER_NAME\",\"password\":\"$INITIAL_PASSWORD\"}"
show "rds-rotator rotate $SECRET-mariadb"
RUST_LOG=warn "$BIN" rotate "$SECRET-mariadb"
maria_current=$(sm password "$SECRET-mariadb" AWSCURRENT)
echo "initial password:     $(maria_login $USER_NAME "$INITIAL_PASSWORD")"
echo "AWSCURRENT password:  $(maria_login $USER_NAME "$maria_current")"
echo "MariaDB's record of the rotator's sessions:"
grep -o "Connect.$USER_NAME@[^ ]* on .*using SSL/TLS" "$TEST_MARIADB_GENERAL_LOG" | sort -u | sed 's/^/  /'
echo "the general log shows the account's mysql_native_password hash, computed by rds-rotator:"
grep -o "SET PASSWORD = '[^']*'" "$TEST_MARIADB_GENERAL_LOG" | sed 's/^/  /'
if grep -qF "$maria_current" "$TEST_MARIADB_GENERAL_LOG"; then
    echo "the generated password is in the general log" >&2
    exit 1
fi

bold "6. What PostgreSQL and the secret say now"
current=$(sm password "$SECRET" AWSCURRENT)
previous=$(sm password "$SECRET" AWSPREVIOUS)
echo "initial password:     $(login $USER_NAME "$INITIAL_PASSWORD")"
echo "AWSPREVIOUS password: $(login $USER_NAME "$previous")"
echo "AWSCURRENT password:  $(login $USER_NAME "$current")"
sm shape "$SECRET"
echo "stored by the server: $(admin_sql "SELECT left(rolpassword, 20) || '…' FROM pg_authid WHERE rolname = '$USER_NAME'")"
echo "PostgreSQL's record of the rotator's sessions:"
grep -o "connection authorized: user=$USER_NAME .*application_name=rds-rotator.*" "$TEST_PG_LOG" | sed 's/application_name=rds-rotator //' | sort | uniq -c | sed 's/^ */  /'
echo "the server's statement log shows only verifiers:"
grep -o "ALTER ROLE SESSION_USER PASSWORD 'SCRAM-SHA-256\$4096:[^:]*" "$TEST_PG_LOG" | sed "s/\$/…'/; s/^/  /"
if grep -qF -e "$current" -e "$previous" "$TEST_PG_LOG"; then
    echo "a generated password is in the statement log" >&2
    exit 1
fi
echo "generated passwords found in the statement log: none"

bold "7. Alternating users on MariaDB: the secret names a master secret (masterarn)"
REPORT_USER=demo_report
maria_admin "CREATE DATABASE demo_reports; CREATE USER '$REPORT_USER'@'%' IDENTIFIED BY '$INITIAL_PASSWORD'; \
    CREATE USER '$REPORT_USER'@'10.0.%' IDENTIFIED BY '$INITIAL_PASSWORD' REQUIRE SSL WITH MAX_USER_CONNECTIONS 5; \
    GRANT SELECT, INSERT ON demo_reports.* TO '$REPORT_USER'@'%' WITH GRANT OPTION; \
    GRANT SELECT ON demo_reports.* TO '$REPORT_USER'@'10.0.%'"
# The master secret says where the master logs in (verified TLS, like every master login); the rotated secret must
# point at the same endpoint.
sm create "$SECRET-master" "{\"engine\":\"mariadb\",\"username\":\"$TEST_MARIADB_ADMIN_USER\",\"password\":\"$TEST_MARIADB_ADMIN_PASSWORD\",\"host\":\"$TEST_TLS_HOST\",\"port\":$TEST_MARIADB_PORT}"
sm create "$SECRET-alternating" "{\"engine\":\"mariadb\",\"host\":\"$TEST_TLS_HOST\",\"port\":$TEST_MARIADB_PORT,\"username\":\"$REPORT_USER\",\"password\":\"$INITIAL_PASSWORD\",\"masterarn\":\"$SECRET-master\"}"
show "rds-rotator check $SECRET-alternating"
"$BIN" check "$SECRET-alternating"
for _ in 1 2 3; do
    show "rds-rotator rotate $SECRET-alternating"
    RUST_LOG=warn "$BIN" rotate "$SECRET-alternating"
    current_user=$(sm user "$SECRET-alternating" AWSCURRENT)
    previous_user=$(sm user "$SECRET-alternating" AWSPREVIOUS)
    echo "AWSCURRENT:  $current_user, login $(maria_login "$current_user" "$(sm password "$SECRET-alternating" AWSCURRENT)")"
    echo "AWSPREVIOUS: $previous_user, login $(maria_login "$previous_user" "$(sm password "$SECRET-alternating" AWSPREVIOUS)") (keeps working until the next rotation)"
done
echo "what each user holds (SHOW GRANTS, passwords cut):"
for user in "$REPORT_USER" "${REPORT_USER}_clone"; do
    for host in % 10.0.%; do
        maria_admin "SHOW GRANTS FOR '$user'@'$host'" | sed "s/PASSWORD '[^']*'/PASSWORD '…'/; s/^/  /"
    done
done

bold "8. The operators' view: status, and attach (a preflight first, then RotateSecret for those that pass)"
show "rds-rotator status $SECRET $SECRET-mariadb $SECRET-alternating"
"$BIN" status "$SECRET" "$SECRET-mariadb" "$SECRET-alternating" || echo "(exit status $?: the secrets need attention)"
# moto's stand-in function (scripts/local-servers.sh) runs nothing; --no-rotate-now, since the demo has rotated.
show "rds-rotator attach $SECRET-mariadb $SECRET-alternating --function $TEST_ROTATION_FUNCTION_ARN --days 30 --no-rotate-now"
RUST_LOG=warn "$BIN" attach "$SECRET-mariadb" "$SECRET-alternating" --function "$TEST_ROTATION_FUNCTION_ARN" --days 30 --no-rotate-now
show "rds-rotator status $SECRET $SECRET-mariadb $SECRET-alternating"
echo "(moto keeps the AWSPENDING copy that RotateSecret makes without rotating; the service removes it after its"
echo " testSecret: so the attached secrets show as rotating here)"
"$BIN" status "$SECRET" "$SECRET-mariadb" "$SECRET-alternating"
