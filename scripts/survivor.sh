#!/usr/bin/env bash
# A bystander for make test: `start` runs a cluster with auth_ext preloaded (as a
# developer's machine or a server would) before the tiers install and test; `check`
# after them asserts it survived: the same postmaster, no backend killed by a signal,
# and the extension still answering. Writing over the installed auth_ext.so in place
# would have crashed it.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
name=survivor
case "${1:-}" in
    start)
        cluster_start "$name" "shared_preload_libraries = 'auth_ext'"
        psql -X -q -d postgres -c "create extension auth_ext" -c "select auth.uid()" >/dev/null
        as_pg cat "$CLUSTER_DIR/data/postmaster.pid" | head -n1 >"$CLUSTER_DIR/postmaster.before"
        log "survivor: a cluster with auth_ext preloaded is running (pid $(cat "$CLUSTER_DIR/postmaster.before"))"
        ;;
    check)
        CLUSTER_DIR="$(cluster_root)/$name"
        trap 'cluster_stop_dir "$CLUSTER_DIR"' EXIT
        pid_now="$(as_pg cat "$CLUSTER_DIR/data/postmaster.pid" 2>/dev/null | head -n1 || true)"
        port="$(as_pg sed -n 4p "$CLUSTER_DIR/data/postmaster.pid" 2>/dev/null || true)"
        answer="$(psql -X -At -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "select auth.uid() is null" 2>&1 || true)"
        signals="$(grep -c 'terminated by signal' "$CLUSTER_DIR/server.log" || true)"
        if [ "$pid_now" = "$(cat "$CLUSTER_DIR/postmaster.before")" ] && [ "$answer" = t ] && [ "$signals" = 0 ]; then
            echo "survivor: the preloaded cluster outlived make test (1 passed, 0 failed)"
        else
            echo "survivor: the preloaded cluster did not survive: postmaster $pid_now (was $(cat "$CLUSTER_DIR/postmaster.before")), answer '$answer', $signals backends killed by a signal"
            tail -20 "$CLUSTER_DIR/server.log"
            exit 1
        fi
        ;;
    *) echo "usage: $0 start|check" >&2; exit 2 ;;
esac
