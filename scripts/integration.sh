#!/usr/bin/env bash
# Integration tier: what needs several real connections or another implementation.
#  - concurrent refreshes of one token from many connections, released at the same instant
#  - our tokens verified through auth.jwks() by Node's own crypto (OpenSSL)
# Prints one line per check and closes with "N passed, N failed".
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

# Postgres' default max_worker_processes (8): code checks must not need more.
# Mail limits are the regression suite's to test; here every client is 127.0.0.1.
# Messages to one user are not spaced out here (auth_ext.*_max_frequency): races send many at once.
cluster_start integration "max_connections = 80" "max_worker_processes = 8" \
    "auth_ext.rate_limit_email_sent = 100000" "auth_ext.rate_limit_email_per_client = 100000" \
    "auth_ext.mailer_max_frequency = 0" "auth_ext.sms_max_frequency = 0"
trap cluster_stop EXIT
"$(pg_bindir)/createdb" auth_it
PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -d auth_it)
"${PSQL[@]}" -c 'create extension auth_ext' >/dev/null

passed=0; failed=0
check() { # check NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok   $1"
    else failed=$((failed + 1)); echo "FAIL $1: expected [$2], got [$3]"; fi
}

new_session() { # a fresh user and session; prints the session JSON
    "${PSQL[@]}" -c "with u as (insert into auth.users (email) values ('it-' || gen_random_uuid() || '@example.com') returning id)
                     select auth.admin_create_session(id) from u"
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# Each statement runs on a connection of its own; all wait on a shared advisory lock,
# released only when all are queued, so they start at the same instant. Prints whether
# all were queued at release (t/f), then one result per statement: its output's last
# line, or the error code its ERROR starts with. PGOPTIONS applies to all of them.
race() { # race STATEMENT...
    local n=$# dir; dir="$(mktemp -d)"
    # One session: take the lock, wait until all n are queued behind it, release it.
    "${PSQL[@]}" -c "select pg_advisory_lock(4242)" \
        -c "do \$\$ begin
                for i in 1..400 loop
                    exit when (select count(*) from pg_locks
                               where locktype = 'advisory' and objid = 4242 and not granted) >= $n;
                    perform pg_sleep(0.025);
                end loop; end \$\$" \
        -c "select count(*) >= $n from pg_locks where locktype = 'advisory' and objid = 4242 and not granted" \
        -c "select pg_advisory_unlock(4242)" >"$dir/holder.out" &
    for _ in $(seq 1 500); do
        [ "$("${PSQL[@]}" -c "select count(*) from pg_locks where locktype = 'advisory' and objid = 4242 and granted")" = 1 ] && break
        sleep 0.02
    done
    local i=0
    for statement in "$@"; do
        i=$((i + 1))
        # The library loads in a statement of its own: an account change refuses to run in the
        # statement that loads it.
        "${PSQL[@]}" -c "load 'auth_ext'" -c "select pg_advisory_lock_shared(4242)" -c "$statement" >"$dir/$i.out" 2>"$dir/$i.err" &
    done
    wait
    grep -E '^[tf]$' "$dir/holder.out" | head -n1
    for i in $(seq 1 "$n"); do
        # A code refused after too many tries says so in its detail (its code is GoTrue's otp_expired).
        if [ -s "$dir/$i.err" ]; then
            echo "$(sed -n 's/.*ERROR:  \([a-z_]*\):.*/\1/p' "$dir/$i.err" | head -n1)$(grep -q 'DETAIL:  too many wrong codes' "$dir/$i.err" && echo ' (too many)')"
        else tail -n1 "$dir/$i.out"; fi
    done
    rm -rf "$dir"
}

concurrently() { # concurrently N SQL [PGOPTIONS]
    local statements=() i
    for i in $(seq 1 "$1"); do statements+=("$2"); done
    PGOPTIONS="${3:-}" race "${statements[@]}"
}

concurrent_refresh() { # concurrent_refresh TOKEN N [PGOPTIONS]
    concurrently "$2" "select coalesce(auth.refresh_session('$1')->>'refresh_token', 'null')" "${3:-}"
}

new_session_for() { "${PSQL[@]}" -c "select auth.admin_create_session('$1')"; }
session_of() { "${PSQL[@]}" -c "select session_id from auth.refresh_tokens where token_hash = sha256(convert_to('$1', 'utf8'))"; }

# 0. Installing again while a backend has the library loaded replaces the file
#    atomically: that backend goes on working.
"${PSQL[@]}" -c "select auth.uid() is null" -c "select pg_sleep(3)" -c "select auth.jwt() is null" >"$CLUSTER_DIR/loaded.out" 2>&1 &
loaded=$!
sleep 1
scripts/install.sh >/dev/null 2>&1
wait "$loaded" || true
check "reinstalling under a running backend: it keeps working" "t t" "$(grep -E '^[tf]$' "$CLUSTER_DIR/loaded.out" | tr '\n' ' ' | sed 's/ $//')"

# 1. Sixteen tabs refresh one token at once, within the reuse interval: they converge on
#    one new token that every one of them holds, and it is the session's live token.
s="$(new_session)"; token="$(field "$s" refresh_token)"; sid="$(session_of "$token")"
results="$(concurrent_refresh "$token" 16)"
check "concurrent refresh: all 16 released at once" t "$(head -n1 <<<"$results")"; results="$(tail -n +2 <<<"$results")"
check "concurrent refresh: all 16 succeed" 0 "$(grep -cvE '^[A-Za-z0-9_-]{43}$' <<<"$results")"
check "concurrent refresh: all 16 hold the same token" 1 "$(sort -u <<<"$results" | wc -l | tr -d ' ')"
check "concurrent refresh: it is the one live token" "1 1" \
    "$("${PSQL[@]}" -F' ' -c "select count(*) filter (where spent_at is null),
                                     count(*) filter (where spent_at is null and token_hash = sha256(convert_to('$(head -n1 <<<"$results")', 'utf8')))
                              from auth.refresh_tokens where session_id = '$sid'")"
# After the interval, each of them refreshes its (shared) token: none is taken for a thief.
sleep 1
results="$(concurrent_refresh "$(head -n1 <<<"$results")" 16 "-c auth_ext.refresh_token_reuse_interval=1")"
check "concurrent refresh, later: all 16 succeed again with one token, nobody revoked" "0 1 0" \
    "$(tail -n +2 <<<"$results" | grep -cvE '^[A-Za-z0-9_-]{43}$') $(tail -n +2 <<<"$results" | sort -u | wc -l | tr -d ' ') $("${PSQL[@]}" -c "select count(*) from auth.session_revocations where session_id = '$sid'")"
check "concurrent refresh: no deadlock reported" 0 "$(grep -c 'deadlock detected' "$CLUSTER_DIR/server.log" || true)"

# 2. Theft: with no reuse interval, a token two refreshes old is replayed by 8 clients at
#    once: all are refused, and the session is revoked before the first refusal is heard.
s="$(new_session)"; old="$(field "$s" refresh_token)"; sid="$(session_of "$old")"
mid="$("${PSQL[@]}" -c "select auth.refresh_session('$old')->>'refresh_token'")"
live="$("${PSQL[@]}" -c "select auth.refresh_session('$mid')->>'refresh_token'")"
results="$(concurrent_refresh "$old" 8 "-c auth_ext.refresh_token_reuse_interval=0")"
check "racing replays: all 8 released at once" t "$(head -n1 <<<"$results")"; results="$(tail -n +2 <<<"$results")"
check "racing replays: 8 refused as already used" 8 "$(grep -c '^refresh_token_already_used$' <<<"$results")"
check "racing replays: session revoked at once" token_reuse "$("${PSQL[@]}" -c "select reason from auth.session_revocations where session_id = '$sid'")"
check "racing replays: the live token no longer refreshes" refresh_token_already_used \
    "$("${PSQL[@]}" -c "select auth.refresh_session('$live')" 2>&1 | sed -n 's/.*ERROR:  \([a-z_]*\):.*/\1/p')"

# 3. Each asymmetric algorithm's tokens verify with Node's crypto through auth.jwks(),
#    and a tampered one does not.
for alg in ES256 EdDSA RS256; do
    "${PSQL[@]}" -c "select auth.rotate_signing_key('$alg')" >/dev/null
    s="$(new_session)"; access="$(field "$s" access_token)"; jwks="$("${PSQL[@]}" -c 'select auth.jwks()')"
    check "jwks: $alg token verifies with node crypto" "ok $alg" "$(node pg_test/integration/verify_jwt.js "$jwks" "$access")"
    tampered="${access%.*}.$(printf '%s' "${access##*.}" | rev)"
    check "jwks: tampered $alg token fails with node crypto" "fail bad signature" \
        "$(node pg_test/integration/verify_jwt.js "$jwks" "$tampered" 2>&1 | head -n1)"
done

# 4. Eight first sign-ins of one Feishu identity at once end with one user, and none fails.
results="$(concurrently 8 "select auth.sign_in_with_idp('feishu', 'ou_race', '{\"name\": \"race\"}')->'user'->>'id'")"
check "concurrent first IdP sign-in: all 8 released at once" t "$(head -n1 <<<"$results")"; results="$(tail -n +2 <<<"$results")"
check "concurrent first IdP sign-in: all 8 succeed with one user id" 1 "$(sort -u <<<"$results" | grep -cE '^[0-9a-f-]{36}$')"
check "concurrent first IdP sign-in: one user, one identity" "1 1" \
    "$("${PSQL[@]}" -F' ' -c "select count(distinct user_id), count(*) from auth.user_identities where provider = 'feishu' and provider_id = 'ou_race'")"

# 4a. Concurrent first requests for a new address (magic links, and the admin's links):
#     every one succeeds, and exactly one user is created.
results="$(concurrently 24 "select auth.sign_in_with_otp('first@race.test') is not null" "-c auth_ext.rate_limit_email_per_recipient=1000")"
check "concurrent first magic links: all 24 released at once" t "$(head -n1 <<<"$results")"; results="$(tail -n +2 <<<"$results")"
check "concurrent first magic links: all 24 succeed" "24" "$(grep -c '^t$' <<<"$results")"
check "concurrent first magic links: one user" 1 "$("${PSQL[@]}" -c "select count(*) from auth.users where email = 'first@race.test'")"
results="$(concurrently 24 "select auth.admin_generate_link('magiclink', 'link@race.test')->>'id'")"
check "concurrent first generate_link: all 24 released at once" t "$(head -n1 <<<"$results")"; results="$(tail -n +2 <<<"$results")"
check "concurrent first generate_link: all 24 succeed with one user id" "24 1" \
    "$(grep -cE '^[0-9a-f-]{36}$' <<<"$results") $(sort -u <<<"$results" | grep -cE '^[0-9a-f-]{36}$')"

# 5. Eight wrong codes at once against a limit of 3: exactly 3 are compared, 5 refused.
"${PSQL[@]}" -c "select auth.sign_in_with_otp('race@example.com')" >/dev/null
code="$("${PSQL[@]}" -c "select payload->>'email_otp' from auth.outbox where recipient = 'race@example.com'")"
wrong="$(printf '%06d' $(( (10#$code + 1) % 1000000 )))"
results="$(concurrently 8 "select auth.verify_otp('race@example.com', '$wrong', 'email')" "-c auth_ext.otp_max_attempts=3")"
check "concurrent wrong codes: all 8 released at once" t "$(head -n1 <<<"$results")"; results="$(tail -n +2 <<<"$results")"
check "concurrent wrong codes: 3 compared" 3 "$(grep -c '^otp_expired$' <<<"$results")"
check "concurrent wrong codes: 5 refused as tried too often" 5 "$(grep -c '^otp_expired (too many)$' <<<"$results")"
check "concurrent wrong codes: the right code is refused too" "otp_expired: Token has expired or is invalid|DETAIL:  too many wrong codes were tried" \
    "$(PGOPTIONS="-c auth_ext.otp_max_attempts=3" "${PSQL[@]}" -c "select auth.verify_otp('race@example.com', '$code', 'email')" 2>&1 | sed -n 's/.*ERROR:  //p; /^DETAIL/p' | paste -sd'|')"

# 6. The outbox sender example: woken by NOTIFY, claims as service_role, delivers once.
"${PSQL[@]}" -c "select count(*) from auth.claim_outbox(1000)" >/dev/null   # earlier checks' messages
python3 examples/outbox_sender.py --dsn "host=$PGHOST port=$PGPORT user=postgres dbname=auth_it" \
    --role service_role --once --timeout 20 >"$CLUSTER_DIR/sender.out" 2>"$CLUSTER_DIR/sender.err" &
sender=$!
for _ in $(seq 1 200); do grep -q listening "$CLUSTER_DIR/sender.err" 2>/dev/null && break; sleep 0.05; done
"${PSQL[@]}" -c "select auth.sign_in_with_otp('sender@example.com')" >/dev/null
wait "$sender"
delivered="$(python3 -c 'import json,sys; m=[json.loads(l) for l in open(sys.argv[1])]; print(" ".join(x["to"] + ":" + x["kind"] + ":" + str(len(x["email_otp"])) for x in m if x["to"] == "sender@example.com"))' "$CLUSTER_DIR/sender.out")"
check "outbox sender: delivers the magic link with its code" "sender@example.com:magiclink:6" "$delivered"
check "outbox sender: nothing left to claim, no secret left behind" "0 0" \
    "$("${PSQL[@]}" -F' ' -c "select count(*) filter (where claimed_at is null), count(*) filter (where payload ? 'email_otp') from auth.outbox")"

# 7. Merging an anonymous user while it signs out, at the same instant, five times:
#    never a deadlock, and each time either the merge happened (cart moved, anonymous
#    user gone) or it was refused (nothing moved, the anonymous user signed out).
"${PSQL[@]}" -c "create table public.carts (user_id uuid not null references auth.users (id), item text not null, primary key (user_id, item));
                 grant select, update on public.carts to auth_ext_app" >/dev/null
"${PSQL[@]}" -c "set auth_ext.anonymous_sign_ins = on" >/dev/null
target="$("${PSQL[@]}" -c "select auth.admin_create_user('{\"email\": \"merge-target@example.com\", \"password\": \"correct horse battery\", \"email_confirm\": true}')->>'id'")"
consistent=0; outcomes=""
for round in 1 2 3 4 5; do
    anon="$(PGOPTIONS="-c auth_ext.anonymous_sign_ins=on" "${PSQL[@]}" -c "select auth.sign_in_anonymously()")"
    anon_token="$(field "$anon" access_token)"; anon_id="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user"]["id"])' "$anon")"
    "${PSQL[@]}" -c "insert into public.carts values ('$anon_id', 'item-$round')" >/dev/null
    target_token="$(field "$(new_session_for "$target")" access_token)"
    results="$(race \
        "select auth.set_session('$target_token') is not null; select 'merged ' || jsonb_array_length(auth.merge_anonymous_user('$anon_token')->'moved')" \
        "select auth.set_session('$anon_token') is not null; select 'signed out' from auth.sign_out('global')")"
    state="$("${PSQL[@]}" -F' ' -c "select (select count(*) from auth.users where id = '$anon_id'),
                                            (select count(*) from public.carts where user_id = '$target' and item = 'item-$round'),
                                            (select count(*) from auth.sessions where user_id = '$anon_id')")"
    case "$state" in "0 1 0"|"1 0 0") consistent=$((consistent + 1)) ;; esac
    outcomes+="$(tail -n +2 <<<"$results" | tr '\n' ',') "
done
check "merge racing sign-out: consistent every time ($outcomes)" 5 "$consistent"
check "merge racing sign-out: no deadlock reported" 0 "$(grep -c 'deadlock detected' "$CLUSTER_DIR/server.log" || true)"

# 9. The cleanup runs while a stale anonymous user refreshes and another converts:
#    it waits for neither, deletes neither, and deletes the idle ones.
stale_user() { # a stale anonymous user with a session; prints the session JSON
    local s; s="$(PGOPTIONS="-c auth_ext.anonymous_sign_ins=on" "${PSQL[@]}" -c "select auth.sign_in_anonymously()")"
    "${PSQL[@]}" -c "with u as (select ('$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user"]["id"])' "$s")')::uuid as id),
                      a as (update auth.sessions set created_at = now() - interval '40 days' where user_id = (select id from u))
                      update auth.users set created_at = now() - interval '40 days', last_sign_in_at = now() - interval '40 days',
                                            updated_at = now() - interval '40 days' where id = (select id from u)" >/dev/null
    echo "$s"
}
user_of() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user"]["id"])' "$1"; }
refreshing="$(stale_user)"; converting="$(stale_user)"; idle1="$(stale_user)"; idle2="$(stale_user)"
"${PSQL[@]}" -c "begin; select auth.refresh_session('$(field "$refreshing" refresh_token)'); select pg_sleep(3); commit" \
    >/dev/null 2>"$CLUSTER_DIR/holder1.err" &
holder1=$!
"${PSQL[@]}" -c "load 'auth_ext'" -c "begin; select auth.set_session('$(field "$converting" access_token)');
                 select auth.update_user('{\"email\": \"converting@example.com\"}'); select pg_sleep(3); commit" \
    >/dev/null 2>"$CLUSTER_DIR/holder2.err" &
holder2=$!
for _ in $(seq 1 100); do
    [ "$("${PSQL[@]}" -c "select count(*) from pg_stat_activity where query like '%pg_sleep(3)%' and wait_event = 'PgSleep'")" = 2 ] && break
    sleep 0.05
done
cat "$CLUSTER_DIR/holder1.err" "$CLUSTER_DIR/holder2.err" >&2
started=$(date +%s%N)
"${PSQL[@]}" -c "call auth.cleanup_anonymous_users('30 days')" >/dev/null 2>&1
took_ms=$(( ($(date +%s%N) - started) / 1000000 ))
check "cleanup during a refresh and a conversion: not blocked (${took_ms} ms)" 1 "$([ "$took_ms" -lt 1500 ] && echo 1 || echo 0)"
check "cleanup during a refresh and a conversion: idle users deleted, busy ones kept" "0 0 1 1" \
    "$("${PSQL[@]}" -F' ' -c "select (select count(*) from auth.users where id = '$(user_of "$idle1")'), (select count(*) from auth.users where id = '$(user_of "$idle2")'),
                                     (select count(*) from auth.users where id = '$(user_of "$refreshing")'), (select count(*) from auth.users where id = '$(user_of "$converting")')")"
wait "$holder1" "$holder2"
"${PSQL[@]}" -c "call auth.cleanup_anonymous_users('30 days')" >/dev/null 2>&1
check "cleanup after they committed: the refreshed and the converting user are active now" "1 1" \
    "$("${PSQL[@]}" -F' ' -c "select (select count(*) from auth.users where id = '$(user_of "$refreshing")'), (select count(*) from auth.users where id = '$(user_of "$converting")')")"

# 9b. A table owner's code replaces a statement the client's driver prepared (DEALLOCATE,
#     then PREPARE under its name) with an account change: refused, and the client's own
#     prepared account change works (psycopg prepares at the protocol level).
swap_session="$(new_session)"
check "prepared statement swapped by a table owner's code: refused, the client's own work" \
    "ok indirect_call ok unchanged" \
    "$(python3 pg_test/integration/prepared_swap.py "host=$PGHOST port=$PGPORT user=postgres dbname=auth_it" \
        "$(field "$swap_session" access_token)" "$(user_of "$swap_session")" 2>&1)"

# 9c. A request through PostgREST's authenticator whose query runs in parallel: the
#     workers take on the request's role and claims from their leader (a change the
#     leader's checks passed), and a policy's auth.uid() answers in them.
"${PSQL[@]}" >/dev/null <<'SQL'
create role it_authenticator login noinherit;
grant authenticated, auth_ext_postgrest to it_authenticator;
create table it_parallel as
select case when n % 100 = 0 then 'a1b2c3d4-0000-4000-8000-000000000001'::uuid else gen_random_uuid() end as user_id
from generate_series(1, 200000) n;
alter table it_parallel enable row level security;
create policy own on it_parallel for select to authenticated using (user_id = auth.uid());
grant select on it_parallel to authenticated;
analyze it_parallel;
SQL
parallel="$(psql -X -q -At -d auth_it -U it_authenticator 2>&1 <<'SQL'
begin;
select set_config('role', 'authenticated', true), set_config('request.jwt.claims', '{"sub": "a1b2c3d4-0000-4000-8000-000000000001", "role": "authenticated"}', true) \g /dev/null
select auth.postgrest_pre_request() \g /dev/null
set local parallel_setup_cost = 0;
set local parallel_tuple_cost = 0;
set local min_parallel_table_scan_size = 0;
explain (analyze, costs off, timing off, summary off) select count(*) from it_parallel;
select count(*) from it_parallel;
commit;
SQL
)"
check "a parallel query in a PostgREST request: its workers run, and see the user's rows only" "1 2000" \
    "$(grep -c 'Workers Launched: [1-9]' <<<"$parallel") $(tail -n1 <<<"$parallel")"
# Variant: a function's SET role clause run by a parallel worker (forced parallel, one
# worker does it all) is a change of role by others' code there too.
"${PSQL[@]}" >/dev/null <<'SQL'
grant service_role to it_authenticator;
create function it_peek() returns text language sql parallel safe set role = service_role
as $$ select current_user::text $$;
SQL
peek="$(psql -X -q -At -d auth_it -U it_authenticator 2>&1 <<'SQL' | sed -n 's/.*ERROR:  \([a-z_]*\):.*/\1/p;s/^\([a-z_]*\)$/\1/p'
begin;
select set_config('role', 'authenticated', true), set_config('request.jwt.claims', '{"sub": "a1b2c3d4-0000-4000-8000-000000000001", "role": "authenticated"}', true) \g /dev/null
select auth.postgrest_pre_request() \g /dev/null
select set_config(case when current_setting('server_version_num')::int >= 160000 then 'debug_parallel_query' else 'force_parallel_mode' end, 'on', true) \g /dev/null
select it_peek() from it_parallel limit 1;
commit;
SQL
)"
check "a function's SET role in a parallel worker: refused as in the leader" "indirect_call" "$(sort -u <<<"$peek")"

# 10. The README's error table says what auth.error_codes() says.
readme_codes="$(sed -n 's/^| `\([a-z_]*\)` | \([0-9A-Z]\{5\}\) | \([0-9]\{3\}\) |.*/\1 \2 \3/p' README.md | sort)"
db_codes="$("${PSQL[@]}" -F' ' -c 'select code, sqlstate, http_status from auth.error_codes()' | sort)"
check "README lists every error code with its SQLSTATE and HTTP status" "$db_codes" "$readme_codes"

# 10a. Fifty code checks at once, half right and half wrong, with the default number of
#      worker slots and nothing preloaded: each gets the right answer.
for i in $(seq 1 50); do echo "select auth.sign_in_with_otp('fifty-$i@example.com');"; done | "${PSQL[@]}" >/dev/null
statements=()
for i in $(seq 1 50); do
    code="$("${PSQL[@]}" -c "select payload->>'email_otp' from auth.outbox where recipient = 'fifty-$i@example.com'")"
    [ $((i % 2)) = 0 ] || code="$(printf '%06d' $(( (10#$code + 1) % 1000000 )))"
    statements+=("select auth.verify_otp('fifty-$i@example.com', '$code', 'email')->>'token_type'")
done
# One client address (every connection here is local): its burst of codes is not what
# this checks, so it is raised above fifty.
results="$(PGOPTIONS="-c auth_ext.rate_limit_burst=1000" race "${statements[@]}")"
check "50 concurrent code checks: all released at once" t "$(head -n1 <<<"$results")"; results="$(tail -n +2 <<<"$results")"
check "50 concurrent code checks: 25 right ones sign in, 25 wrong ones are otp_expired" "25 25" \
    "$(grep -c '^bearer$' <<<"$results") $(grep -c '^otp_expired$' <<<"$results")"

# 10a''. An attacker sends many guesses at once from one address to get past its burst
#        (checked before counting only, all read the same count and all pass): no more
#        than the burst is compared (counted first, then checked again: concurrent tries
#        may get fewer, never more), the rest are refused. The same for password work
#        (argon2) at once.
burst_race() { # burst_race BURST STATEMENT...: "compared refused" (compared: an answer about the guess)
    local burst=$1 results; shift
    results="$(PGOPTIONS="-c auth_ext.rate_limit_burst=$burst" race "$@")"
    echo "$(head -n1 <<<"$results") $(tail -n +2 <<<"$results" | grep -cE '^(otp_expired|invalid_credentials)$') $(tail -n +2 <<<"$results" | grep -c '^over_request_rate_limit$')"
}
"${PSQL[@]}" -c "delete from auth.rate_bursts where bucket in ('verify', 'password')" >/dev/null
for i in $(seq 1 20); do echo "select auth.sign_in_with_otp('burst-$i@example.com');"; done | "${PSQL[@]}" >/dev/null
statements=()
for i in $(seq 1 20); do statements+=("select auth.verify_otp('burst-$i@example.com', '000000', 'email')"); done
read -r released compared refused <<<"$(burst_race 8 "${statements[@]}")"
check "20 guesses at once against a burst of 8: at most 8 compared, the rest refused ($compared, $refused)" "t 1 20" \
    "$released $([ "$compared" -le 8 ] && echo 1 || echo 0) $((compared + refused))"
statements=()
for i in $(seq 1 12); do statements+=("select auth.sign_in_with_password('burst-pw-$i@example.com', 'a wrong guess')"); done
read -r released compared refused <<<"$(burst_race 5 "${statements[@]}")"
check "12 password sign-ins at once against a burst of 5: at most 5 checked, the rest refused ($compared, $refused)" "t 1 12" \
    "$released $([ "$compared" -le 5 ] && echo 1 || echo 0) $((compared + refused))"

# 10a'. One backend, one transaction, 100,000 calls: memory stays flat (set_session and
#       get_user free what each call used; nothing is kept until commit).
s="$(new_session)"; access="$(field "$s" access_token)"
memory="$("${PSQL[@]}" -c "create function pg_temp.mem() returns bigint language sql as \$\$ select sum(total_bytes)::bigint from pg_backend_memory_contexts \$\$" \
    -c "begin" \
    -c "do \$\$ begin for i in 1..2000 loop perform auth.set_session('$access'); perform auth.get_user('$access'); end loop; end \$\$" \
    -c "select pg_temp.mem()" \
    -c "do \$\$ begin for i in 1..50000 loop perform auth.set_session('$access'); perform auth.get_user('$access'); end loop; end \$\$" \
    -c "select pg_temp.mem()" -c "commit" | tr '\n' ' ')"
read -r warm after <<<"$memory"
check "100k calls in one transaction: memory grows by less than 256 kB (${warm} -> ${after} bytes)" 1 \
    "$([ $(( after - warm )) -lt 262144 ] && echo 1 || echo 0)"

# 10b. The README's privilege matrix is what the database grants.
readme_matrix="$(sed -n '/<!-- privilege-matrix:start -->/,/<!-- privilege-matrix:end -->/p' README.md | grep '^| `auth\(_api\)\{0,1\}\.')"
db_matrix="$("${PSQL[@]}" -f pg_test/sql/privileges.sql)"
check "README privilege matrix matches the database" "$db_matrix" "$readme_matrix"

# 10c. Codes tried from one client address are limited per hour, across tokens, and
#      the count survives the failing calls.
for who in guess-a guess-b; do "${PSQL[@]}" -c "select auth.sign_in_with_otp('$who@example.com')" >/dev/null; done
tried="$("${PSQL[@]}" -c "select auth.rate_limit_hits('verify', '127.0.0.1')")"
limit=$((tried + 2)); results=""
for who in guess-a guess-b guess-a; do
    results+="$(PGOPTIONS="-c auth_ext.rate_limit_verify=$limit" "${PSQL[@]}" -c "select auth.verify_otp('$who@example.com', '000000', 'email')" 2>&1 \
                | sed -n 's/.*ERROR:  \([a-z_]*\):.*/\1/p' || true) "
done
check "codes per client address: 2 compared, the 3rd refused" "otp_expired otp_expired over_request_rate_limit " "$results"

# 10d. Take a plain and a custom-format dump of everything above (restored in 13).
DUMPS="$(mktemp -d)"; chmod 755 "$DUMPS"
s="$(new_session)"; kept_refresh="$(field "$s" refresh_token)"
feishu_user="$("${PSQL[@]}" -c "select user_id from auth.user_identities where provider = 'feishu' and provider_id = 'ou_race'")"
"${PSQL[@]}" -c "select auth.sign_in_with_idp('feishu', 'ou_linked', '{}')" >/dev/null
"${PSQL[@]}" -c "select auth.link_identity('wechat', 'o_linked', '{}', '$feishu_user')" >/dev/null
# Every row of every table the dump carries, as one fingerprint per table.
FINGERPRINT="select string_agg(t || '=' || n || ':' || h, ' ' order by t) from (
    select 'users' as t, count(*) as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h from auth.users x
    union all select 'identities', count(*), md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from auth.user_identities x
    union all select 'sessions', count(*), md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from auth.sessions x
    union all select 'refresh_tokens', count(*), md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from auth.refresh_tokens x
    union all select 'revocations', count(*), md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from auth.session_revocations x
    union all select 'one_time_tokens', count(*), md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from auth.one_time_tokens x
    union all select 'outbox', count(*), md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from auth.outbox x
    union all select 'audit', count(*), md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from auth.audit_log_entries x
    union all select 'secrets', count(*), md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from auth.secrets x
    union all select 'restored_keys', count(*), md5(coalesce(string_agg(x::text, '|' order by x::text), ''))
              from auth.signing_keys x where kid in (select kid from dumped_keys)) f"
"${PSQL[@]}" -c "create table public.dumped_keys as select kid from auth.signing_keys" >/dev/null
fingerprint_before="$("${PSQL[@]}" -c "$FINGERPRINT")"
"$(pg_bindir)/pg_dump" -d auth_it -Fp -f "$DUMPS/app.sql" 2>"$DUMPS/dump.err"
"$(pg_bindir)/pg_dump" -d auth_it -Fc -f "$DUMPS/app.dump" 2>>"$DUMPS/dump.err"
check "dump: no warnings" "" "$(cat "$DUMPS/dump.err")"

# 11. With shared_preload_libraries, the background worker deletes stale anonymous users
#     by itself, shows in pg_stat_activity, and stops cleanly with the server.
cluster_stop
cluster_start integration-preload "shared_preload_libraries = 'auth_ext'" "auth_ext.anonymous_cleanup_interval = '1s'" \
    "auth_ext.anonymous_cleanup_databases = 'auth_bg, missing_db'" "auth_ext.anonymous_ttl = '1h'"
"$(pg_bindir)/createdb" auth_bg
BG=(psql -X -q -At -v ON_ERROR_STOP=1 -d auth_bg)
"${BG[@]}" -c "create extension auth_ext" >/dev/null
"${BG[@]}" -c "insert into auth.users (is_anonymous, created_at, updated_at) select true, now() - interval '2 hours', now() - interval '2 hours' from generate_series(1, 1500);
               insert into auth.users (is_anonymous) values (true);
               insert into auth.users (email, created_at) values ('kept@example.com', now() - interval '2 years')" >/dev/null
left=""
for _ in $(seq 1 200); do
    left="$("${BG[@]}" -F' ' -c "select count(*) filter (where is_anonymous), count(*) filter (where not is_anonymous) from auth.users")"
    [ "$left" = "1 1" ] && break; sleep 0.1
done
check "background worker: stale anonymous users deleted, fresh and permanent kept" "1 1" "$left"
check "background worker: visible in pg_stat_activity" 1 \
    "$("${BG[@]}" -c "select count(*) from pg_stat_activity where backend_type = 'auth_ext anonymous cleanup'")"
check "background worker: a database without the extension is logged and skipped" 1 \
    "$(grep -c 'database "missing_db" does not exist\|auth_ext is not installed' "$CLUSTER_DIR/server.log" | awk '{print ($1 > 0)}')"
check "background worker: audited" 1 "$("${BG[@]}" -c "select count(*) > 0 from auth.audit_log_entries where action = 'anonymous_cleanup'" | sed 's/t/1/')"
started=$(date +%s)
cluster_stop
check "background worker: the server stops cleanly and promptly" 1 \
    "$([ $(( $(date +%s) - started )) -lt 10 ] && ! grep -q 'terminated by signal' "$CLUSTER_DIR/server.log" && echo 1 || echo 0)"

# 12. A reserved durable writer: with every worker slot taken (max_worker_processes
#     leaves none beyond the replication and cleanup launchers and the writer registered
#     at start), codes
#     are still counted and checked, failed sign-ins counted, and a replayed refresh
#     token still revokes its session. A revocation that is queued but not yet
#     committed already refuses the session (fail closed).
cluster_start integration-reserved "shared_preload_libraries = 'auth_ext'" "auth_ext.durable_write_databases = 'auth_res'" \
    "max_worker_processes = 3" "max_parallel_workers = 0" "auth_ext.mailer_max_frequency = 0" "auth_ext.sms_max_frequency = 0"
"$(pg_bindir)/createdb" auth_res
RES=(psql -X -q -At -v ON_ERROR_STOP=1 -d auth_res)
"${RES[@]}" -c "create extension auth_ext" >/dev/null
for _ in $(seq 1 100); do
    [ "$("${RES[@]}" -c "select count(*) from pg_stat_activity where backend_type = 'auth_ext durable writer'")" = 1 ] && break; sleep 0.1
done
check "reserved writer: running, and no worker slot is free" "1 t" \
    "$("${RES[@]}" -F' ' -c "select count(*) filter (where backend_type = 'auth_ext durable writer'),
                                    count(*) filter (where backend_type in ('auth_ext durable writer', 'auth_ext anonymous cleanup',
                                                                            'logical replication launcher'))
                                        = current_setting('max_worker_processes')::int
                             from pg_stat_activity")"
"${RES[@]}" -c "select auth.sign_in_with_otp('res@example.com')" >/dev/null
code="$("${RES[@]}" -c "select payload->>'email_otp' from auth.outbox where recipient = 'res@example.com'")"
wrong="$(printf '%06d' $(( (10#$code + 1) % 1000000 )))"
err_code() { sed -n 's/.*ERROR:  \([a-z_]*\):.*/\1/p' | head -n1; }
check "reserved writer: a wrong code is refused and counted" "otp_expired 1" \
    "$("${RES[@]}" -c "select auth.verify_otp('res@example.com', '$wrong', 'email')" 2>&1 | err_code || true) $("${RES[@]}" -c "select attempts from auth.one_time_token_attempts")"
check "reserved writer: the right code signs in" "bearer" \
    "$("${RES[@]}" -c "select auth.verify_otp('res@example.com', '$code', 'email')->>'token_type'")"
"${RES[@]}" -c "select auth.admin_update_user_by_id((select id from auth.users where email = 'res@example.com'), '{\"password\": \"correct horse battery\"}')" >/dev/null
"${RES[@]}" -c "select auth.sign_in_with_password('res@example.com', 'a wrong guess')" >/dev/null 2>&1 || true
check "reserved writer: a failed sign-in is counted" "1" \
    "$("${RES[@]}" -c "select sum(hits) from auth.rate_limits where bucket = 'failed_sign_in_account'")"
s="$("${RES[@]}" -c "select auth.sign_in_with_password('res@example.com', 'correct horse battery')")"
first="$(field "$s" refresh_token)"; access="$(field "$s" access_token)"
second="$(PGOPTIONS="-c auth_ext.refresh_token_reuse_interval=0" "${RES[@]}" -c "select auth.refresh_session('$first')->>'refresh_token'")"
# Replay the spent token while this transaction holds the session (a refresh of the live
# token), so the revocation stays queued until it ends; meanwhile the session is refused.
PGOPTIONS="-c auth_ext.refresh_token_reuse_interval=0" "${RES[@]}" \
    -c "begin" -c "select auth.refresh_session('$second') is not null" -c "savepoint s" \
    -c "\\set ON_ERROR_STOP off" -c "select auth.refresh_session('$first')" -c "rollback to s" \
    -c "select pg_sleep(2)" -c "commit" >/dev/null 2>"$CLUSTER_DIR/replay.err" &
holder=$!
for _ in $(seq 1 100); do
    [ "$("${RES[@]}" -c "select count(*) from pg_stat_activity where wait_event = 'PgSleep'")" = 1 ] && break; sleep 0.05
done
check "reserved writer: the replay is refused" "refresh_token_already_used" "$(err_code <"$CLUSTER_DIR/replay.err")"
check "reserved writer: the session is refused while the replaying transaction still runs" "session_not_found" \
    "$("${RES[@]}" -c "select auth.set_session('$access')" 2>&1 | err_code || true)"
wait "$holder"
sid="$("${RES[@]}" -c "select session_id from auth.refresh_tokens where token_hash = sha256(convert_to('$first', 'utf8'))")"
check "reserved writer: the revocation was committed when the replay was refused" "token_reuse" \
    "$("${RES[@]}" -c "select reason from auth.session_revocations where session_id = '$sid'")"
# Terminated, the writer is started again by the postmaster; until it serves, a refresh
# is refused (fail closed), never served without it.
writer_pid() { "${RES[@]}" -c "select coalesce(max(pid), 0) from pg_stat_activity where backend_type = 'auth_ext durable writer'"; }
old_writer="$(writer_pid)"
"${RES[@]}" -c "select pg_terminate_backend($old_writer)" >/dev/null
for _ in $(seq 1 100); do [ "$(writer_pid)" = 0 ] && break; sleep 0.02; done
s="$("${RES[@]}" -c "select auth.sign_in_with_password('res@example.com', 'correct horse battery')" 2>&1 || true)"
check "reserved writer: while it restarts, sign-ins that need it are refused" "durable_writer_unavailable" "$(err_code <<<"$s")"
for _ in $(seq 1 100); do [ "$(writer_pid)" != 0 ] && break; sleep 0.1; done
check "reserved writer: started again by itself after it was terminated" "t" \
    "$([ "$(writer_pid)" != 0 ] && [ "$(writer_pid)" != "$old_writer" ] && echo t || echo f)"
for _ in $(seq 1 50); do
    s="$("${RES[@]}" -c "select auth.sign_in_with_password('res@example.com', 'correct horse battery')" 2>/dev/null || true)"
    [ -n "$s" ] && break; sleep 0.1
done
check "reserved writer: once it serves again, refreshes are served" "bearer" \
    "$("${RES[@]}" -c "select auth.refresh_session('$(field "$s" refresh_token)')->>'token_type'")"
cluster_stop

# 12a. A server that could not reserve the writer (max_worker_processes had no room)
#      refuses refreshes, code checks and password sign-ins with a clear error, rather
#      than serving them without their durable writes.
cluster_start integration-noroom "shared_preload_libraries = 'auth_ext'" "auth_ext.durable_write_databases = 'auth_res'" \
    "max_worker_processes = 1" "max_parallel_workers = 0"
"$(pg_bindir)/createdb" auth_res
"${RES[@]}" -c "create extension auth_ext" >/dev/null
user="$("${RES[@]}" -c "select auth.admin_create_user('{\"email\": \"room@example.com\", \"password\": \"correct horse battery\", \"email_confirm\": true}')->>'id'")"
refresh="$(field "$("${RES[@]}" -c "select auth.admin_create_session('$user')")" refresh_token)"
check "no room for the writer: a refresh is refused" "durable_writer_unavailable" \
    "$("${RES[@]}" -c "select auth.refresh_session('$refresh')" 2>&1 | err_code || true)"
"${RES[@]}" -c "select auth.sign_in_with_otp('room@example.com')" >/dev/null
code="$("${RES[@]}" -c "select payload->>'email_otp' from auth.outbox where recipient = 'room@example.com'")"
check "no room for the writer: a code check is refused" "durable_writer_unavailable" \
    "$("${RES[@]}" -c "select auth.verify_otp('room@example.com', '$code', 'email')" 2>&1 | err_code || true)"
check "no room for the writer: a password sign-in is refused" "durable_writer_unavailable" \
    "$("${RES[@]}" -c "select auth.sign_in_with_password('room@example.com', 'correct horse battery')" 2>&1 | err_code || true)"
cluster_stop

# 13. The dumps restore into a fresh cluster, with default options, losing nothing and
#     making nothing extra: every row as it was (identities with their ids), sessions
#     keep refreshing, and a Feishu sign-in finds its user.
cluster_start integration-restore
#     The keys are exactly the dumped ones, with one current: CREATE EXTENSION's own
#     first key goes again (also in one transaction, pg_restore --single-transaction).
for format in plain custom single; do
    "$(pg_bindir)/createdb" "restored_$format"
    R=(psql -X -q -At -v ON_ERROR_STOP=1 -d "restored_$format")
    case "$format" in
        plain) restored="$(psql -X -q -d "restored_$format" -v ON_ERROR_STOP=1 -f "$DUMPS/app.sql" >/dev/null 2>"$CLUSTER_DIR/restore.err" && echo ok || echo failed)" ;;
        custom) restored="$("$(pg_bindir)/pg_restore" -d "restored_$format" "$DUMPS/app.dump" 2>"$CLUSTER_DIR/restore.err" && echo ok || echo failed)" ;;
        single) restored="$("$(pg_bindir)/pg_restore" --single-transaction -d "restored_$format" "$DUMPS/app.dump" 2>"$CLUSTER_DIR/restore.err" && echo ok || echo failed)" ;;
    esac
    check "dump/restore ($format): restores without an error" "ok" "$restored$(grep -m1 ERROR "$CLUSTER_DIR/restore.err" || true)"
    check "dump/restore ($format): every row as it was" "$fingerprint_before" "$("${R[@]}" -c "$FINGERPRINT")"
    check "dump/restore ($format): exactly the dumped keys, one of them current" "0 1" \
        "$("${R[@]}" -F' ' -c "select count(*) filter (where kid not in (select kid from public.dumped_keys)), count(*) filter (where is_current) from auth.signing_keys")"
    check "dump/restore ($format): a session keeps refreshing" "bearer" \
        "$("${R[@]}" -c "select auth.refresh_session('$kept_refresh')->>'token_type'")"
    check "dump/restore ($format): the Feishu identity signs in to its user" "$feishu_user" \
        "$("${R[@]}" -c "select auth.sign_in_with_idp('feishu', 'ou_race')->'user'->>'id'")"
done

# 14. A hot standby of that cluster serves the read paths and refuses writes with a
#     coded, retryable error; the read paths take no transaction id on the primary.
R=(psql -X -q -At -v ON_ERROR_STOP=1 -d restored_plain)
"${R[@]}" -c "select auth.admin_update_user_by_id('$feishu_user', '{\"email\": \"replica@example.com\", \"email_confirm\": true, \"password\": \"correct horse battery\"}')" >/dev/null
replica_session="$("${R[@]}" -c "select auth.admin_create_session('$feishu_user')")"
replica_access="$(field "$replica_session" access_token)"; replica_refresh="$(field "$replica_session" refresh_token)"
check "primary: 100 get_user and set_session calls take no transaction id" "t" \
    "$("${R[@]}" -c "begin" -c "select count(auth.get_user('$replica_access')) + count(auth.set_session('$replica_access')) from generate_series(1, 100)" \
                  -c "select pg_current_xact_id_if_assigned() is null" -c "commit" | tail -n1)"
standby="$CLUSTER_DIR/standby"; mkdir -p "$standby"; chown postgres:postgres "$standby" 2>/dev/null || true
as_pg "$(pg_bindir)/pg_basebackup" -h "$CLUSTER_DIR" -p "$PGPORT" -U postgres -D "$standby/data" -R -X stream -c fast >/dev/null 2>&1
standby_port="$(free_port)"
as_pg "$(pg_bindir)/pg_ctl" -D "$standby/data" -o "-p $standby_port" -l "$standby/server.log" -w start >/dev/null
S=(psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$standby_port" -d restored_plain)
target_lsn="$("${R[@]}" -c "select pg_current_wal_lsn()")"
for _ in $(seq 1 100); do
    [ "$("${S[@]}" -c "select pg_last_wal_replay_lsn() >= '$target_lsn'")" = t ] && break; sleep 0.1
done
check "standby: in recovery" t "$("${S[@]}" -c "select pg_is_in_recovery()")"
check "standby: set_session and the claim functions" "$feishu_user $feishu_user" \
    "$("${S[@]}" -c "begin" -c "select auth.set_session('$replica_access')->>'sub'" -c "select auth.uid()" -c "commit" | tr '\n' ' ' | sed 's/ $//')"
check "standby: get_user" "$feishu_user" "$("${S[@]}" -c "select auth.get_user('$replica_access')->>'id'")"
check "standby: jwks" t "$("${S[@]}" -c "select jsonb_array_length(auth.jwks()->'keys') > 0")"
standby_error() { "${S[@]}" -c "$1" 2>&1 | sed -n 's/.*ERROR:  \([a-z_]*\):.*/\1/p' | head -n1 || true; }
check "standby: refresh is refused as read_only_replica" read_only_replica "$(standby_error "select auth.refresh_session('$replica_refresh')")"
check "standby: an unknown refresh token too, never XX000" read_only_replica "$(standby_error "select auth.refresh_session('no-such-token')")"
check "standby: a password sign-in is refused as read_only_replica" read_only_replica \
    "$(standby_error "select auth.sign_in_with_password('replica@example.com', 'correct horse battery')")"
check "standby: an anonymous sign-in is refused as read_only_replica" read_only_replica \
    "$(standby_error "set auth_ext.anonymous_sign_ins = on; select auth.sign_in_anonymously()")"
check "standby: a cleanup, even a dry run, is refused as read_only_replica" read_only_replica \
    "$(standby_error "select auth.cleanup_anonymous_users_once(dry_run => true)")"
as_pg "$(pg_bindir)/pg_ctl" -D "$standby/data" -m fast -w stop >/dev/null
cluster_stop
rm -rf "$DUMPS"

echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
