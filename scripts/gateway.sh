#!/usr/bin/env bash
# The gateway tier: auth_ext_gateway (gateway/) in front of a throwaway cluster, with a
# real PostgREST 12 behind its /rest/v1, driven by the real @supabase/supabase-js
# (pg_test/gateway/tier.mjs), and the example web app (examples/todo-app) clicked
# through in headless Chromium (pg_test/gateway/browser.mjs).
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

SITE_URL="http://127.0.0.1:$(free_port)"
# Every request comes from 127.0.0.1: the per-client limits are not what is tested here.
# Social sign-in goes to a local OpenID provider over plain http (pg_test/gateway/oidc_local.mjs),
# and its client secret is sealed with a test's key.
cluster_start gateway "shared_preload_libraries = 'auth_ext'" "auth_ext.durable_write_databases = 'app'" \
    "auth_ext.provider_allow_http = on" "auth_ext.provider_secret_key = 'gateway-tier-sealing-key-0123456789'"
APP_PID=""; CAPTCHA_GATEWAY_PID=""
trap 'kill $APP_PID $CAPTCHA_GATEWAY_PID 2>/dev/null || true; gateway_stop; postgrest_stop; cluster_stop' EXIT
"$(pg_bindir)/createdb" app
psql -X -q -v ON_ERROR_STOP=1 -d app -f examples/postgrest/setup.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d app -f examples/gateway/setup.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d app -f examples/todo-app/schema.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d app >/dev/null <<SQL
alter database app set auth_ext.anonymous_sign_ins = on;
alter database app set auth_ext.site_url = '$SITE_URL';
alter database app set auth_ext.refresh_token_reuse_interval = 0;
-- The tier asks for several messages to one user within a minute (GoTrue's window).
alter database app set auth_ext.mailer_max_frequency = 0;
alter database app set auth_ext.sms_max_frequency = 0;
-- Links are GoTrue's, to its /verify (GoTrue's API_EXTERNAL_URL).
alter database app set auth_ext.api_external_url = 'https://auth.example.test/auth/v1';
-- unlinkIdentity is tried (Supabase Auth's manual linking, off by default).
alter database app set auth_ext.manual_linking_enabled = on;
-- Phone factors are tried (off by default, as in Supabase Auth).
alter database app set auth_ext.mfa_phone_enroll_enabled = on;
alter database app set auth_ext.mfa_phone_verify_enabled = on;
-- The MFA verification attempt hook, as an app writes one: it rejects the attempts of the
-- users the app listed (pg_test/gateway/mfa.mjs lists one).
create table public.mfa_blocked_users (user_id uuid primary key);
grant select on public.mfa_blocked_users to auth_ext_app;
create function public.tier_mfa_attempt_hook(event jsonb) returns jsonb language sql as \$\$
    select case when exists (select from public.mfa_blocked_users where user_id = (event->>'user_id')::uuid)
                then '{"decision": "reject", "message": "Too many attempts, ask support"}'::jsonb
                else '{"decision": "continue"}'::jsonb end \$\$;
grant execute on function public.tier_mfa_attempt_hook(jsonb) to auth_ext_app;
alter database app set auth_ext.mfa_verification_attempt_hook = 'public.tier_mfa_attempt_hook';
-- PostgREST is reached only through the gateway, which sets X-Forwarded-For (README).
alter database app set auth_ext.trusted_proxy_header = 'x-forwarded-for';
alter database app set auth_ext.rate_limit_anonymous = 100000;
alter database app set auth_ext.rate_limit_email_per_client = 100000;
alter database app set auth_ext.rate_limit_email_per_recipient = 1000;
alter database app set auth_ext.rate_limit_email_sent = 100000;
alter database app set auth_ext.rate_limit_sms_sent = 100000;
alter database app set auth_ext.rate_limit_verify = 100000;
alter database app set auth_ext.rate_limit_failed_sign_ins = 100000;
alter database app set auth_ext.rate_limit_burst = 100000;
-- The sender's retries come after a second in the tier (30 s by default).
alter database app set auth_ext.outbox_retry_delay = 1;
SQL
ANON_KEY="$(psql -X -q -At -d app -c "select auth.create_api_key('anon', description => 'gateway tier')")"
SERVICE_KEY="$(psql -X -q -At -d app -c "select auth.create_api_key('service_role', description => 'gateway tier')")"

wait_for_writer app
postgrest_start app
# A second gateway with CAPTCHA on, checking tokens at a local siteverify (the tier's
# captcha section serves it on CAPTCHA_SITEVERIFY_PORT).
CAPTCHA_SITEVERIFY_PORT="$(free_port)"
AUTH_GATEWAY_CAPTCHA_PROVIDER=hcaptcha AUTH_GATEWAY_CAPTCHA_SECRET=tier-captcha-secret \
    AUTH_GATEWAY_CAPTCHA_VERIFY_URL="http://127.0.0.1:$CAPTCHA_SITEVERIFY_PORT/siteverify" GATEWAY_LOG=gateway-captcha.log \
    AUTH_GATEWAY_REDIRECT_ALLOW_LIST="$SITE_URL" gateway_start app
CAPTCHA_GATEWAY_PID="$GATEWAY_PID"; CAPTCHA_BASE_URL="$GATEWAY_URL"
AUTH_GATEWAY_REDIRECT_ALLOW_LIST="$SITE_URL" gateway_start app
# The sender (auth_ext_gateway send) logs in as the gateway's role, which may be service_role.
GATEWAY_BIN="$(gateway_bin)"; SENDER_DATABASE_URL="postgres://auth_gateway:change-me@127.0.0.1:$PGPORT/app"
export BASE_URL="$GATEWAY_URL" ANON_KEY SERVICE_KEY SITE_URL PGDATABASE=app CAPTCHA_BASE_URL CAPTCHA_SITEVERIFY_PORT GATEWAY_BIN SENDER_DATABASE_URL
status=0
(cd pg_test/gateway && node tier.mjs) || status=$?
(cd pg_test/gateway && node open_internet.mjs) || status=$?

# The example app, served as `make demo` serves it, in a headless browser.
APP_PORT="${SITE_URL##*:}"
PORT="$APP_PORT" AUTH_EXT_URL="$GATEWAY_URL" AUTH_EXT_ANON_KEY="$ANON_KEY" node examples/todo-app/serve.mjs >"$CLUSTER_DIR/app.log" 2>&1 &
APP_PID=$!
(cd pg_test/gateway && APP_URL="$SITE_URL/" node browser.mjs) || status=$?
if [ $status -ne 0 ]; then
    echo "--- gateway.log"; tail -30 "$CLUSTER_DIR/gateway.log"
    echo "--- postgrest.log"; tail -10 "$CLUSTER_DIR/postgrest.log"
fi
exit $status
