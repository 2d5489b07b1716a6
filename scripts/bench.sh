#!/usr/bin/env bash
# make bench: every hot path next to its floor (the least Postgres does for the same kind
# of transaction) and its peers, measured back to back in one throwaway cluster on a
# release build. Prints one markdown table (the README's performance section).
#   BENCH_SECONDS  length of each timed run (default 10)
#   BENCH_USERS    stale anonymous users added for the scale runs and the cleanup (default 1,000,000)
#   BENCH_SMOKE=1  a seconds-long run on the debug build, so CI keeps this script working;
#                  its numbers mean nothing.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

if [ -n "${BENCH_SMOKE:-}" ]; then
    seconds="${BENCH_SECONDS:-1}"; users="${BENCH_USERS:-20000}"; memory_tokens=2000; claim_rows=100000; code_rounds=1; profile=debug
    scripts/install.sh
else
    seconds="${BENCH_SECONDS:-10}"; users="${BENCH_USERS:-1000000}"; memory_tokens=100000; claim_rows=1000000; code_rounds=6; profile=release
    scripts/install.sh --release
fi
release=(); [ "$profile" = release ] && release=(--release)
cargo build --quiet -p argon2_alone "${release[@]}"
GATEWAY_PROFILE="$profile"

# Durable commits, as in production: the floors are what a real server allows.
# Preloaded with a reserved durable writer, as the README's production set-up.
cluster_start bench "max_connections = 200" "shared_buffers = 512MB" "fsync = on" \
    "shared_preload_libraries = 'auth_ext'" "auth_ext.durable_write_databases = 'auth_bench'"
BA_PID=
trap 'gateway_stop; postgrest_stop; [ -n "$BA_PID" ] && kill "$BA_PID" 2>/dev/null; cluster_stop' EXIT
db=auth_bench
"$(pg_bindir)/createdb" "$db"
"$(pg_bindir)/createdb" better_auth
sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
sql -c 'create extension auth_ext' -f examples/postgrest/setup.sql -f examples/gateway/setup.sql >/dev/null
sql >/dev/null <<'SQL'
alter database auth_bench set auth_ext.anonymous_sign_ins = on;
-- Limits are not what is measured (a run signs in more than 30 times per address).
alter database auth_bench set auth_ext.rate_limit_anonymous = 2147483647;
alter database auth_bench set auth_ext.rate_limit_failed_sign_ins = 2147483647;
alter database auth_bench set auth_ext.rate_limit_burst = 2147483647;
alter database auth_bench set auth_ext.rate_limit_email_sent = 2147483647;
alter database auth_bench set auth_ext.rate_limit_email_per_client = 2147483647;
alter database auth_bench set auth_ext.rate_limit_email_per_recipient = 2147483647;
-- wrk plays a trusted proxy in front of PostgREST and of the gateway: many client addresses.
alter database auth_bench set auth_ext.trusted_proxy_header = 'x-forwarded-for';
SQL
log "set-up: tokens, pgjwt, password users, 10,000 existing users"
sql -v tokens=1000 -f bench/setup.sql >/dev/null
sql -v users=10000 -f bench/grow.sql

pgbench() {  # CLIENTS SCRIPT [pgbench options]: transactions per second
    local clients="$1" script="$2"; shift 2
    "$(pg_bindir)/pgbench" -n -c "$clients" -j 2 -T "$seconds" "$@" -f "$script" "$db" 2>"$CLUSTER_DIR/pgbench.err" \
        | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | grep . || { cat "$CLUSTER_DIR/pgbench.err" >&2; return 1; }
}
wrk_rps() {  # CONNECTIONS URL [HEADER...]: requests per second and p99 in ms, all answered 2xx
    local connections="$1" url="$2" out; shift 2
    out="$(WRK_RANDOM_IP=1 WRK_HEADERS="$(printf '%s\n' "$@")" wrk -t 2 -c "$connections" -d "${seconds}s" --latency -s bench/post.lua "$url")"
    if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then echo "$out" >&2; return 1; fi
    python3 -c "
import re, sys
out = sys.argv[1]
rps = re.search(r'^Requests/sec:\s*([0-9.]+)', out, re.M).group(1)
value, unit = re.search(r'^\s*99%\s+([0-9.]+)(us|ms|s)', out, re.M).groups()
print(rps, f'{float(value) * {\"us\": 0.001, \"ms\": 1, \"s\": 1000}[unit]:.1f}')" "$out"
}
rows=()
ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.2f}' if b else 'n/a')" "$1" "$2"; }
row() { rows+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }  # path, clients, value, compared with, ratio, goal
per_s() { printf '%.0f/s' "$1"; }

# A path and what it is compared with are measured in turns (four slices each,
# alternating), so that both see the same moments of a noisy machine: with durable
# commits, a disk's latency moves every transaction rate at 2 clients.
interleaved() {  # CLIENTS "SCRIPT [pgbench options]"...: each one's mean tps, one per line
    local clients="$1" slice_seconds=$(( seconds / 4 > 0 ? seconds / 4 : 1 )) slice i spec tps; shift
    local -a sums=()
    for slice in 1 2 3 4; do
        i=0
        for spec in "$@"; do
            read -r -a spec_words <<<"$spec"
            tps="$(seconds="$slice_seconds" pgbench "$clients" "${spec_words[@]}")"
            sums[i]="$(python3 -c "print(${sums[i]:-0} + $tps)")"
            i=$((i + 1))
        done
    done
    for tps in "${sums[@]}"; do python3 -c "print($tps / 4)"; done
}

# Two floors each: the least Postgres does for one row, and the same rows the path
# writes, by plain SQL with the schema's triggers and indexes: the first says what the
# schema costs, the second what our logic adds.
log "anonymous sign-ins and their floors"
for c in 2 16; do
    { read -r insert; read -r same_rows; read -r anon; read -r one; } < <(interleaved "$c" bench/floor_insert.sql bench/floor_sign_in_rows.sql bench/anonymous_sign_in.sql bench/anonymous_sign_in_one_address.sql)
    goal="≥ 0.3"; [ "$c" = 2 ] && { goal="≥ 0.6"; anon_share="$(ratio "$anon" "$insert")"; }
    row "a sign-in's rows, one plain SQL statement" "$c" "$(per_s "$same_rows")" "one-row insert: $(per_s "$insert")" "$(ratio "$same_rows" "$insert")" "$goal"
    row "anonymous sign-in (session + ES256 JWT)" "$c" "$(per_s "$anon")" "its rows by plain SQL: $(per_s "$same_rows")" "$(ratio "$anon" "$same_rows")" "≥ 0.9"
    row "anonymous sign-in, every client from one address" "$c" "$(per_s "$one")" "its rows by plain SQL: $(per_s "$same_rows")" "$(ratio "$one" "$same_rows")" ""
done

log "refresh and its floors"
for c in 2 16; do
    { read -r lock; read -r same_rows; read -r refresh; } < <(interleaved "$c" bench/floor_lock.sql "bench/floor_refresh_rows.sql -D started=0" "bench/refresh.sql -D rt=none")
    [ "$c" = 2 ] && refresh_share="$(ratio "$refresh" "$lock")"
    row "a refresh's rows, plain SQL under the session's lock" "$c" "$(per_s "$same_rows")" "select for update: $(per_s "$lock")" "$(ratio "$same_rows" "$lock")" ""
    row "refresh (rotate the refresh token, ES256 JWT)" "$c" "$(per_s "$refresh")" "its rows by plain SQL: $(per_s "$same_rows")" "$(ratio "$refresh" "$same_rows")" "≥ 0.9"
done

log "set_session, pgjwt and their floor"
{ read -r read2; read -r pgjwt2; read -r hs2; read -r es2; } < <(interleaved 2 bench/floor_read.sql bench/pgjwt_hs256.sql bench/set_session_hs256.sql bench/set_session_es256.sql)
row "\`set_session\` + \`uid()\`, HS256" 2 "$(per_s "$hs2")" "pgjwt HS256 verify: $(per_s "$pgjwt2")" "$(ratio "$hs2" "$pgjwt2")" "≥ 5"
row "\`set_session\` + \`uid()\`, ES256" 2 "$(per_s "$es2")" "pgjwt HS256 verify: $(per_s "$pgjwt2")" "$(ratio "$es2" "$pgjwt2")" "≥ 3"
row "\`set_session\` + \`uid()\`, HS256" 2 "$(per_s "$hs2")" "read-only tx: $(per_s "$read2")" "$(ratio "$hs2" "$read2")" "≥ 0.6"
row "\`set_session\` + \`uid()\`, ES256" 2 "$(per_s "$es2")" "read-only tx: $(per_s "$read2")" "$(ratio "$es2" "$read2")" "≥ 0.35"

log "50 clients check correct codes at once"
read -r codes_p50 codes_p99 < <(python3 bench/concurrent_codes.py "host=127.0.0.1 port=$PGPORT dbname=$db user=postgres" "$code_rounds")
row "50 correct codes checked at once, p99 latency" 50 "${codes_p99} ms" "p50: ${codes_p50} ms" "" "≤ 50 ms"

log "password sign-in"
password2="$(pgbench 2 bench/password_sign_in.sql)"
stored="$(sql -At -c "select encrypted_password from auth.users where email = 'bench1@example.com'")"
argon2="$("target/$profile/argon2_alone" "$stored" 'correct horse battery staple' 2 "$seconds")"
row "password sign-in ($(cut -d'$' -f4 <<<"$stored"))" 2 "$(per_s "$password2")" "argon2 check alone, 2 threads: $(per_s "$argon2")" "$(ratio "$password2" "$argon2")" "near 1"

log "claim functions in a policy, per row"
while IFS='|' read -r mode predicate ms vs_literal; do
    [ -z "$mode" ] && continue
    case "$predicate" in
        *\'5f0e8b4c*) row "$claim_rows-row filter, $mode: a literal" 1 "${ms} ms" "" "" ""; continue ;;
        'user_id = auth.uid()') goal="≤ 1.5" ;;
        'user_id = (select auth.uid())') goal="≤ 1.05" ;;
        *) goal="" ;;
    esac
    row "$claim_rows-row filter, $mode: \`${predicate}\`" 1 "${ms} ms" "a literal" "$vs_literal" "$goal"
done < <(sql -v rows="$claim_rows" -f bench/claims.sql)

log "over HTTP: PostgREST, the gateway and Better Auth"
anon_key="$(sql -At -c "select auth.create_api_key('anon', description => 'bench')")"
postgrest_start "$db"
AUTH_GATEWAY_POOL_SIZE=16 AUTH_GATEWAY_TRUSTED_PROXY_HEADER=x-forwarded-for gateway_start "$db"
until curl -fsS -o /dev/null -H "apikey: $anon_key" -H "Authorization: Bearer $anon_key" "$BASE_URL/"; do sleep 0.1; done
ba_port="$(free_port)"
BA_PID="$(bench/better-auth/start.sh "postgres://postgres@127.0.0.1:$PGPORT/better_auth" "$ba_port")"
ba_url="http://127.0.0.1:$ba_port"
for c in 2 16; do
    read -r ba _ < <(wrk_rps "$c" "$ba_url/api/auth/sign-in/anonymous" "Origin: $ba_url")
    read -r ba_jwt _ < <(wrk_rps "$c" "$ba_url/bench/sign-in-with-jwt" "Origin: $ba_url")
    read -r rest _ < <(wrk_rps "$c" "$BASE_URL/rpc/sign_in_anonymously" "apikey: $anon_key" "Authorization: Bearer $anon_key" "Content-Profile: auth_api")
    read -r gw gw_p99 < <(wrk_rps "$c" "$GATEWAY_URL/auth/v1/signup" "apikey: $anon_key" "Authorization: Bearer $anon_key")
    row "HTTP anonymous sign-in, gateway \`POST /auth/v1/signup\`" "$c" "$(per_s "$gw")" "Better Auth, no JWT: $(per_s "$ba")" "$(ratio "$gw" "$ba")" "≥ 3"
    row "HTTP anonymous sign-in, gateway" "$c" "$(per_s "$gw")" "Better Auth + JWT: $(per_s "$ba_jwt")" "$(ratio "$gw" "$ba_jwt")" "≥ 6"
    row "HTTP anonymous sign-in, PostgREST \`POST /rpc/sign_in_anonymously\`" "$c" "$(per_s "$rest")" "Better Auth, no JWT: $(per_s "$ba")" "$(ratio "$rest" "$ba")" "≥ 3"
done
# Many more clients than the gateway's pool: what queues shows in the tail.
read -r gw200 gw200_p99 < <(wrk_rps 200 "$GATEWAY_URL/auth/v1/signup" "apikey: $anon_key" "Authorization: Bearer $anon_key")
row "HTTP anonymous sign-in, gateway, 200 connections: p99 latency" 200 "${gw200_p99} ms" "at $(per_s "$gw200"); 16 connections: $(per_s "$gw"), p99 ${gw_p99} ms" "$(ratio "$gw200" "$gw")" "≤ 250 ms"
gateway_stop; postgrest_stop; kill "$BA_PID"; BA_PID=

log "memory: one backend verifies $memory_tokens distinct tokens"
read -r verified before_kb half_kb after_kb < <(PGOPTIONS="-c bench.count=$memory_tokens" sql -At -f bench/memory.sql)
row "\`set_session\` with $verified distinct tokens, one backend: private memory" 1 "${after_kb} kB after all" "halfway: ${half_kb} kB (${before_kb} kB before)" "$(ratio "$after_kb" "$half_kb")" "≈ 1 (flat)"

log "scale: $users more existing users"
sql -v users="$users" -f bench/grow.sql
existing="$(sql -At -c 'select count(*) from auth.users')"
# Each path's share of its floor, at this size and at 10k users: the floors take the
# machine's noise out of the comparison.
{ read -r insert; read -r anon; } < <(interleaved 2 bench/floor_insert.sql bench/anonymous_sign_in.sql)
{ read -r lock; read -r refresh; } < <(interleaved 2 bench/floor_lock.sql "bench/refresh.sql -D rt=none")
{ read -r read; read -r es; } < <(interleaved 2 bench/floor_read.sql bench/set_session_es256.sql)
scale_row() {  # PATH SHARE_NOW SHARE_AT_10K
    row "$1 at $existing users, share of its floor" 2 "$2" "at 10k users: $3" "$(ratio "$2" "$3")" "≈ 1"
}
scale_row "anonymous sign-in" "$(ratio "$anon" "$insert")" "$anon_share"
scale_row "refresh" "$(ratio "$refresh" "$lock")" "$refresh_share"
scale_row "\`set_session\` + \`uid()\` ES256" "$(ratio "$es" "$read")" "$(ratio "$es2" "$read2")"

log "cleanup of the stale anonymous users, with 2 clients signing in meanwhile"
started="$(date +%s.%N)"
sql -f bench/cleanup.sql 2>/dev/null &
cleanup_pid=$!
rm -f "$CLUSTER_DIR"/pgbench_log.*
while kill -0 "$cleanup_pid" 2>/dev/null; do
    (cd "$CLUSTER_DIR" && "$(pg_bindir)/pgbench" -n -c 2 -j 2 -T 2 -l -f "$REPO_ROOT/bench/anonymous_sign_in.sql" "$db" >/dev/null 2>&1)
done
wait "$cleanup_pid"
cleanup_s="$(python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$started")"
left="$(sql -At -c "select count(*) from auth.users where is_anonymous and created_at < now() - interval '30 days'")"
[ "$left" = 0 ] || { echo "cleanup left $left stale users" >&2; exit 1; }
p99="$(cat "$CLUSTER_DIR"/pgbench_log.* | awk '{print $3}' | sort -n | python3 -c "
import sys; v = [int(x) for x in sys.stdin]; print(f'{v[int(len(v) * 0.99) - 1] / 1000:.1f}' if v else 'n/a')")"
signed_in="$(cat "$CLUSTER_DIR"/pgbench_log.* | wc -l)"
row "cleanup of $users stale anonymous users" 1 "${cleanup_s} s" "" "" "≤ 30 s"
row "anonymous sign-ins during the cleanup ($signed_in), p99 latency" 2 "${p99} ms" "" "" "< 50 ms"

echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(psql -X -At -d "$db" -c 'show server_version' | cut -d' ' -f1), $profile build, ${seconds} s per run"
echo
echo "| path | clients | auth_ext | compared with | ratio | goal |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
