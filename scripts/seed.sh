# Sourced by scripts/demo.sh and scripts/invoke.sh, inside the environment of scripts/local-servers.sh: the demo's
# user and secret, and small helpers for Secrets Manager (boto3 against the emulator) and the two databases.

# The names the sample events in events/ use.
SECRET=rds-rotator/demo
USER_NAME=demo_app
INITIAL_PASSWORD='Initial-Passw0rd-from-the-DBA'
TOKEN=$(sed -n 's/.*"ClientRequestToken": *"\([^"]*\)".*/\1/p' events/createSecret.json)

[ -n "${TEST_MOTO_PYTHON:-}" ] || { echo "no Python with boto3 next to moto; run: scripts/local-servers.sh install" >&2; exit 1; }
# Debian's psql, whichever server runs (the PostgreSQL 16-18 builds have no client tools).
PSQL="${TEST_PG_CLIENT_BINDIR:-$TEST_PG_BINDIR}/psql"

# Secrets Manager calls beyond the rotator itself, made with boto3 against moto.
sm() {
    "$TEST_MOTO_PYTHON" - "$@" <<'PY'
import json, sys, boto3
sm = boto3.client("secretsmanager")
command, name, *rest = sys.argv[1:]
if command == "create":
    sm.create_secret(Name=name, SecretString=rest[0])
elif command == "stage":
    # What RotateSecret does before it invokes the function: a new version, no value, labelled AWSPENDING.
    # moto does exactly that, then fails to find this (absent) function and invokes nothing.
    try:
        sm.rotate_secret(SecretId=name, ClientRequestToken=rest[0], RotationRules={"AutomaticallyAfterDays": 30},
                         RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:rds-rotator-demo")
    except sm.exceptions.ResourceNotFoundException:
        pass
elif command == "exists":
    try:
        sm.describe_secret(SecretId=name)
    except sm.exceptions.ResourceNotFoundException:
        sys.exit(1)
elif command == "has-version":
    sys.exit(0 if rest[0] in sm.describe_secret(SecretId=name)["VersionIdsToStages"] else 1)
elif command == "versions":
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    for version, labels in sorted(stages.items(), key=lambda item: sorted(item[1])):
        if labels:
            print(f"  {version}  {', '.join(labels)}")
elif command == "user":
    print(json.loads(sm.get_secret_value(SecretId=name, VersionStage=rest[0])["SecretString"])["username"])
elif command == "password":
    print(json.loads(sm.get_secret_value(SecretId=name, VersionStage=rest[0])["SecretString"])["password"])
elif command == "event":
    # events/STEP.json as Secrets Manager sends it for this rotation: the secret's ARN and the RotationToken the
    # service gave the rotation, from the strict layer in front of moto that plays the service's side
    # (tests/strict-secrets-manager.py; PutSecretValue into the rotation's version must carry that token).
    import os, urllib.request
    event = json.load(open(f"events/{rest[0]}.json"))
    request = json.dumps({"Step": event["Step"], "SecretId": name, "ClientRequestToken": event["ClientRequestToken"]})
    url = os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/strict/event"
    with urllib.request.urlopen(urllib.request.Request(url, data=request.encode(), method="POST"), timeout=10) as reply:
        sent = json.load(reply)
    event.update({key: sent[key] for key in ("SecretId", "RotationToken")})
    print(json.dumps(event, indent=2))
elif command == "shape":
    value = json.loads(sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])
    value["password"] = "********"
    print("  " + json.dumps(value))
PY
}

maria_login() {
    if "$TEST_MARIADB_CLIENT" -h "$TEST_MARIADB_HOST" -P "$TEST_MARIADB_PORT" -u"$1" -p"$2" -e 'SELECT 1' \
        >/dev/null 2>&1; then
        echo accepted
    else
        echo refused
    fi
}

maria_admin() {
    "$TEST_MARIADB_CLIENT" -h "$TEST_MARIADB_HOST" -P "$TEST_MARIADB_PORT" -u"$TEST_MARIADB_ADMIN_USER" \
        -p"$TEST_MARIADB_ADMIN_PASSWORD" -N -e "$1"
}

login() {
    if PGPASSWORD="$2" PGCONNECT_TIMEOUT=5 "$PSQL" -h "$TEST_PG_HOST" -p "$TEST_PG_PORT" -U "$1" \
        -d postgres -tAq -c 'SELECT 1' >/dev/null 2>&1; then
        echo accepted
    else
        echo refused
    fi
}

admin_sql() {
    PGPASSWORD="$TEST_PG_ADMIN_PASSWORD" "$PSQL" -h "$TEST_PG_HOST" -p "$TEST_PG_PORT" \
        -U "$TEST_PG_ADMIN_USER" -d postgres -tAq -v ON_ERROR_STOP=1 -c "$1"
}

# The PostgreSQL user and RDS-format secret the sample events name (no "ssl" key: verified TLS), once.
seed_postgres_demo() {
    sm exists "$SECRET" && return 0
    admin_sql "CREATE ROLE $USER_NAME LOGIN PASSWORD '$INITIAL_PASSWORD'"
    sm create "$SECRET" "{\"engine\":\"postgres\",\"host\":\"$TEST_TLS_HOST\",\"port\":$TEST_PG_PORT,\"username\":\"$USER_NAME\",\"password\":\"$INITIAL_PASSWORD\",\"dbname\":\"postgres\",\"owner\":\"team-payments\"}"
}
