#!/usr/bin/env bash
# start.sh DATABASE_URL PORT: starts the Better Auth bench server in the background
# (NODE_ENV=production), waits until it answers, prints its PID. Extra settings come
# from the environment (POOL_SIZE); its output goes to $LOG (default
# ${TMPDIR:-/tmp}/bench-better-auth-PORT.log).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 DATABASE_URL PORT" >&2; exit 2; }
cd "$(dirname "${BASH_SOURCE[0]}")"
log="${LOG:-${TMPDIR:-/tmp}/bench-better-auth-$2.log}"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error >&2
DATABASE_URL="$1" PORT="$2" NODE_ENV=production nohup node server.mjs >"$log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 300); do
    if curl -fsS "http://127.0.0.1:$2/health" >/dev/null 2>&1; then echo "$pid"; exit 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "better-auth server exited during start" >&2; exit 1; }
    sleep 0.1
done
cat "$log" >&2; echo "better-auth server did not answer within 30 s" >&2
kill "$pid" 2>/dev/null || true
exit 1
