#!/usr/bin/env bash
# Benchmarks (not part of `make test`), on a release build in a throwaway cluster: the
# per-row cost of the claim functions in a policy, against a literal; then anonymous
# sign-ins per second, by SQL (pgbench), through PostgREST and through the HTTP gateway
# (wrk), at 2 and 16 connections. BENCH_SECONDS sets each run's length (default 10).
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
scripts/install.sh --release
cluster_start bench
trap 'gateway_stop; postgrest_stop; cluster_stop' EXIT
"$(pg_bindir)/createdb" auth_bench
psql -X -v ON_ERROR_STOP=1 -d auth_bench -q -c 'create extension auth_ext'
psql -X -v ON_ERROR_STOP=1 -d auth_bench -f bench/claims.sql

seconds="${BENCH_SECONDS:-10}"
psql -X -q -v ON_ERROR_STOP=1 -d auth_bench -f examples/postgrest/setup.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d auth_bench -f examples/gateway/setup.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d auth_bench >/dev/null <<'SQL'
alter database auth_bench set auth_ext.anonymous_sign_ins = on;
-- The limit is not what is measured (a run signs in more than 30 times per address).
alter database auth_bench set auth_ext.rate_limit_anonymous = 2147483647;
-- wrk plays a trusted proxy in front of PostgREST and of the gateway: many client addresses.
alter database auth_bench set auth_ext.trusted_proxy_header = 'x-forwarded-for';
SQL
anon_key="$(psql -X -q -At -d auth_bench -c "select auth.create_api_key('anon', description => 'bench')")"
postgrest_start auth_bench
AUTH_GATEWAY_POOL_SIZE=16 AUTH_GATEWAY_TRUSTED_PROXY_HEADER=x-forwarded-for GATEWAY_PROFILE=release gateway_start auth_bench
until curl -fsS -o /dev/null -H "apikey: $anon_key" -H "Authorization: Bearer $anon_key" "$BASE_URL/"; do sleep 0.1; done

pgbench_tps() {
    "$(pg_bindir)/pgbench" -n -c "$1" -j 2 -T "$seconds" -f "$2" auth_bench 2>/dev/null \
        | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
wrk_rps() {
    local connections="$1" url="$2"; shift 2
    WRK_RANDOM_IP=1 WRK_HEADERS="$(printf '%s\n' "$@")" wrk -t 2 -c "$connections" -d "${seconds}s" -s bench/post.lua "$url" \
        | sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p'
}
log "anonymous sign-ins per second, ${seconds} s each, clients from many addresses unless said"
echo
echo "| anonymous sign-ins per second | 2 connections | 16 connections |"
echo "| --- | --- | --- |"
row() { printf '| %s | %.0f | %.0f |\n' "$1" "$2" "$3"; }
sql2="$(pgbench_tps 2 bench/anonymous_sign_in.sql)"; sql16="$(pgbench_tps 16 bench/anonymous_sign_in.sql)"
row "SQL: \`select auth.sign_in_anonymously()\` (pgbench)" "$sql2" "$sql16"
one2="$(pgbench_tps 2 bench/anonymous_sign_in_one_address.sql)"; one16="$(pgbench_tps 16 bench/anonymous_sign_in_one_address.sql)"
row "SQL, every client from one address" "$one2" "$one16"
rest2="$(wrk_rps 2 "$BASE_URL/rpc/sign_in_anonymously" "apikey: $anon_key" "Authorization: Bearer $anon_key" "Content-Profile: auth_api")"
rest16="$(wrk_rps 16 "$BASE_URL/rpc/sign_in_anonymously" "apikey: $anon_key" "Authorization: Bearer $anon_key" "Content-Profile: auth_api")"
row "PostgREST: \`POST /rpc/sign_in_anonymously\` (wrk)" "$rest2" "$rest16"
gw2="$(wrk_rps 2 "$GATEWAY_URL/auth/v1/signup" "apikey: $anon_key" "Authorization: Bearer $anon_key")"
gw16="$(wrk_rps 16 "$GATEWAY_URL/auth/v1/signup" "apikey: $anon_key" "Authorization: Bearer $anon_key")"
row "gateway: \`POST /auth/v1/signup\` (wrk)" "$gw2" "$gw16"
