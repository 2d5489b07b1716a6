#!/usr/bin/env bash
# Plays demo/walkthrough.sql against the installed extension in a throwaway cluster,
# then starts PostgREST next to it with the shipped examples/postgrest/ config and makes
# one call over HTTP. --shell leaves you in psql afterwards (PostgREST still running);
# the cluster and PostgREST stop when you quit.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

cluster_start demo
trap 'postgrest_stop; cluster_stop' EXIT
log "demo cluster on 127.0.0.1:$PGPORT"

psql=(psql -X -v ON_ERROR_STOP=1 --pset=pager=off -d auth_demo)
"$(pg_bindir)/createdb" auth_demo
"${psql[@]}" -q -c 'create extension auth_ext'
"${psql[@]}" -f demo/walkthrough.sql

log "PostgREST in front (examples/postgrest/postgrest.conf, as shipped)"
PGOPTIONS='-c client_min_messages=warning' "${psql[@]}" -q -f examples/postgrest/setup.sql
"${psql[@]}" -q -c 'alter database auth_demo set auth_ext.anonymous_sign_ins = on'
anon_key="$("${psql[@]}" -At -c "select auth.create_api_key('anon', description => 'demo')")"
postgrest_start auth_demo
BASE_URL="$BASE_URL" ANON_KEY="$anon_key" node --input-type=module -e '
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
    log "PostgREST: $BASE_URL   anon key: $anon_key"
    log "psql on the demo database; \\q stops the cluster and PostgREST"
    "${psql[@]}"
fi
