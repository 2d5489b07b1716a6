#!/usr/bin/env bash
# Plays demo/walkthrough.sql against the installed extension in a throwaway cluster,
# then starts PostgREST next to it with the shipped examples/postgrest/ config and makes
# one call over HTTP; then the HTTP gateway (supabase-js's API) and the example web app
# (examples/todo-app), whose URL it prints, with the outbox sender printing the codes
# the app asks for. It serves until Ctrl-C. --shell leaves you in psql instead; the
# cluster and the servers stop when you quit.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

# "Sign in with Demo" goes to a local OpenID provider over plain http; its client secret
# is sealed with a demo's key.
cluster_start demo "auth_ext.provider_allow_http = on" "auth_ext.provider_secret_key = 'demo-only-sealing-key-0123456789abc'"
APP_PID=""; SENDER_PID=""; ISSUER_PID=""; INBOX_PID=""
# Ctrl-C (or a TERM) ends the script, and leaving it stops everything it started; a
# second Ctrl-C while stopping does not cut that short.
stop_all() {
    trap '' INT TERM
    kill $APP_PID $SENDER_PID $ISSUER_PID $INBOX_PID 2>/dev/null || true
    gateway_stop; postgrest_stop; cluster_stop
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
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

log "the HTTP gateway (examples/gateway/) and the example web app (examples/todo-app/)"
app_port=3000
curl -s -o /dev/null "http://127.0.0.1:$app_port/" 2>/dev/null && app_port="$(free_port)"
app_url="http://127.0.0.1:$app_port"
"${psql[@]}" -q -f examples/gateway/setup.sql
# The walkthrough's own todos table makes way for the app's.
"${psql[@]}" -q -c 'drop table public.todos'
"${psql[@]}" -q -f examples/todo-app/schema.sql
"${psql[@]}" -q -c "alter database auth_demo set auth_ext.site_url = '$app_url'"
# "Sign in with Demo": a local OpenID provider (examples/local-id-provider/), configured
# as custom:demo; it sends the browser back to the gateway's /callback.
gateway_port="$(free_port)"; issuer_port="$(free_port)"
client_secret="$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"
"${psql[@]}" -q -c "alter database auth_demo set auth_ext.api_external_url = 'http://127.0.0.1:$gateway_port/auth/v1'"
ISSUER_PORT="$issuer_port" CLIENT_ID=demo CLIENT_SECRET="$client_secret" CALLBACK="http://127.0.0.1:$gateway_port/auth/v1/callback" \
    node examples/local-id-provider/serve.mjs >/dev/null 2>&1 &
ISSUER_PID=$!
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$issuer_port/.well-known/openid-configuration" >/dev/null 2>&1 && break
    kill -0 "$ISSUER_PID" 2>/dev/null || { echo "the local OpenID provider did not start" >&2; exit 1; }
    sleep 0.1
done
"${psql[@]}" -q -c "select auth.admin_create_oauth_provider(jsonb_build_object('provider', 'custom:demo', 'name', 'Demo',
    'kind', 'oidc', 'issuer', 'http://127.0.0.1:$issuer_port', 'client_id', 'demo', 'client_secret', '$client_secret',
    'scopes', 'email profile')) is not null as demo_provider_configured" >/dev/null
AUTH_GATEWAY_REDIRECT_ALLOW_LIST="$app_url" GATEWAY_PORT="$gateway_port" gateway_start auth_demo
PORT="$app_port" AUTH_EXT_URL="$GATEWAY_URL" AUTH_EXT_ANON_KEY="$anon_key" node examples/todo-app/serve.mjs >/dev/null &
APP_PID=$!
# Mail and text messages are delivered for real: auth_ext_gateway send hands them to a
# local inbox (examples/local-inbox/: an SMTP server, a send-SMS webhook and a page), which
# prints one "inbox:" line per message in this terminal.
inbox_port="$(free_port)"; inbox_smtp_port="$(free_port)"
PORT="$inbox_port" SMTP_PORT="$inbox_smtp_port" node examples/local-inbox/serve.mjs &
INBOX_PID=$!
AUTH_SENDER_DATABASE_URL="postgres://auth_gateway:change-me@127.0.0.1:$PGPORT/auth_demo" \
AUTH_SENDER_SMTP_HOST=127.0.0.1 AUTH_SENDER_SMTP_PORT="$inbox_smtp_port" AUTH_SENDER_SMTP_TLS=none \
AUTH_SENDER_FROM=no-reply@auth-ext.demo AUTH_SENDER_FROM_NAME='auth_ext demo' AUTH_SENDER_POLL=1 \
AUTH_SENDER_SMS_PROVIDER=webhook AUTH_SENDER_SMS_WEBHOOK_URL="http://127.0.0.1:$inbox_port/sms" \
AUTH_SENDER_SMS_WEBHOOK_SECRET="whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')" \
RUST_LOG=auth_ext_gateway=warn "$(gateway_bin)" send &
SENDER_PID=$!

if [ "${1:-}" = --shell ]; then
    log "PostgREST: $BASE_URL   gateway: $GATEWAY_URL   app: $app_url   inbox: http://127.0.0.1:$inbox_port/   anon key: $anon_key"
    log "psql on the demo database; \\q stops the cluster and the servers"
    "${psql[@]}"
else
    log "gateway (supabase-js's createClient URL): $GATEWAY_URL   anon key: $anon_key"
    log "the mail it sends: http://127.0.0.1:$inbox_port/ (and below, as 'inbox:' lines)"
    log "open the example app: $app_url/   (\"Sign in with Demo\" takes any name; Ctrl-C stops everything)"
    wait "$APP_PID"
fi
