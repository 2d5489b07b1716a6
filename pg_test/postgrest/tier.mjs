// The PostgREST tier: auth_ext behind a real PostgREST 12, over HTTP, as a Supabase user
// drives it. Started by scripts/postgrest.sh, which gives BASE_URL and PG* variables.
// Prints one line per check and closes with "N passed, N failed".
import { check, crashed, finish, sql, sqlFile } from '../harness.mjs';
import { readFileSync } from 'node:fs';
import { PostgrestClient } from '@supabase/postgrest-js';

const BASE = process.env.BASE_URL;
// A part of a JWT (0 the header, 1 the claims), decoded.
const jwtPart = (token, n) => JSON.parse(Buffer.from(token.split('.')[n], 'base64url'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const newest = (column, kind, recipient) =>
  sql(`select payload->>'${column}' from auth.outbox where kind = '${kind}' and recipient = '${recipient}'
       order by id desc limit 1`);

// A raw call, for statuses and headers: POST /rpc/NAME in schema auth_api.
async function rpc(name, args, key, token = key, profile = 'auth_api') {
  const res = await fetch(`${BASE}/rpc/${name}`, {
    method: 'POST',
    headers: {
      apikey: key,
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      'Content-Profile': profile,
    },
    body: JSON.stringify(args ?? {}),
  });
  const text = await res.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body, headers: res.headers };
}
// postgrest-js, as an application uses it (supabase-js's .from() and .rpc()).
const client = (key, token = key) =>
  new PostgrestClient(BASE, { headers: { apikey: key, Authorization: `Bearer ${token}` } });

async function waitFor(what, probe, ms = 5000) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await probe()) return Date.now() - start;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main() {
  const anonKey = sql(`select auth.create_api_key('anon', description => 'tier')`);
  const serviceKey = sql(`select auth.create_api_key('service_role', description => 'tier')`);
  await waitFor('PostgREST', async () => {
    try {
      return (await fetch(`${BASE}/`, { headers: { apikey: anonKey, Authorization: `Bearer ${anonKey}` } })).ok;
    } catch {
      return false;
    }
  }, 20000);

  // --- The shipped config, as it is.
  check('config: auth functions need the auth_api profile (none: 404)',
    404, (await fetch(`${BASE}/rpc/sign_in_anonymously`, {
      method: 'POST', headers: { apikey: anonKey, Authorization: `Bearer ${anonKey}`, 'Content-Type': 'application/json' },
      body: '{}' })).status);
  const off = await rpc('sign_in_anonymously', {}, anonKey);
  const helper = await rpc('merge_column', {}, anonKey);
  check('config: helpers of schema auth are not exposed (404)', 404, helper.status);
  check('config: anonymous sign-ins off by default: 422 anonymous_provider_disabled',
    [422, 'anonymous_provider_disabled'], [off.status, off.body.code]);
  // A database setting reaches PostgREST's pooled connections once they are made anew:
  // a schema-cache reload releases them (a config reload does not).
  sql(`alter database app set auth_ext.anonymous_sign_ins = on`);
  sql(`notify pgrst, 'reload schema'`);
  const reloadMs = await waitFor('the setting', async () => (await rpc('sign_in_anonymously', {}, anonKey)).status === 200);
  check('config: ALTER DATABASE ... SET auth_ext.* then NOTIFY pgrst, \'reload schema\'', true, reloadMs < 5000);

  // --- The anonymous journey, through postgrest-js.
  const anon = client(anonKey);
  const { data: s1, error: e1 } = await anon.schema('auth_api').rpc('sign_in_anonymously', { data: { theme: 'dark' } });
  check('journey: anonymous sign-in', [null, true, 'bearer'], [e1, s1.user.is_anonymous, s1.token_type]);
  const u1 = client(anonKey, s1.access_token);
  const ins = await u1.from('notes').insert({ body: 'first note' }).select();
  check('journey: RLS insert as the anonymous user', [null, s1.user.id], [ins.error, ins.data?.[0]?.user_id]);
  const mine = await u1.from('notes').select();
  check('journey: select * sees own rows', [null, 1, 'first note'], [mine.error, mine.data.length, mine.data[0].body]);
  // A table owner's trigger sees the request's headers, but not its credentials: the
  // pre-request takes the bearer token, the API key and cookies out of them.
  sql(`create table public.seen_headers (headers jsonb)`);
  sql(`create function public.see_headers() returns trigger language plpgsql security definer set search_path = '' as
       $f$ begin insert into public.seen_headers values (current_setting('request.headers', true)::jsonb); return new; end $f$`);
  sql(`create trigger see_headers before insert on public.notes for each row execute function public.see_headers()`);
  await fetch(`${BASE}/notes`, { method: 'POST', headers: { apikey: anonKey, Authorization: `Bearer ${s1.access_token}`,
    Cookie: 'sb-token=secret', 'Content-Type': 'application/json' }, body: JSON.stringify({ body: 'second note' }) });
  check('journey: code in the request sees no credentials in request.headers', ['true', 'f f f'],
    [sql(`select (count(*) = 1)::text from public.seen_headers`),
      sql(`select concat_ws(' ', headers ? 'authorization', headers ? 'apikey', headers ? 'cookie') from public.seen_headers`)]);
  sql(`drop trigger see_headers on public.notes`);
  sql(`drop function public.see_headers()`);
  sql(`drop table public.seen_headers`);
  sql(`delete from public.notes where body = 'second note'`);
  // A table owner's trigger swaps PostgREST's prepared per-request statement for one
  // that copies request.headers before the pre-request takes the credentials out: every
  // later request on that pooled connection would hand it the next user's token.
  sql(`create role mallory login`);
  sql(`grant create on schema public to mallory`);
  sql(`grant usage on schema auth to mallory`);
  sql(`set role mallory;
       create table public.loot (what text);
       grant insert on public.loot to public;
       create table public.board (id bigint generated always as identity primary key, body text);
       grant select, insert on public.board to authenticated;
       create function public.capture(h text) returns text language plpgsql security definer set search_path = '' as $f$
       begin
           if h like '%authorization%' then insert into public.loot values ('stolen ' || h); end if;
           return h;
       end $f$;
       grant execute on function public.capture(text) to public;
       create function public.poison() returns trigger language plpgsql security definer set search_path = '' as $f$
       declare n text;
       begin
           for n in select name from pg_prepared_statements where statement like 'select set_config(''search_path''%' loop
               begin
                   execute format('deallocate %I', n);
                   execute format($q$prepare %I(text, text, text, text, text, text, text) as
                       select set_config('search_path', $1, true), set_config('role', $2, true),
                              set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true),
                              set_config('request.path', $5, true), set_config('request.headers', public.capture($6), true),
                              set_config('request.cookies', $7, true)$q$, n);
                   insert into public.loot values ('poisoned');
               exception when others then
                   insert into public.loot values ('refused ' || sqlstate);
               end;
           end loop;
           return new;
       end $f$;
       create trigger poison before insert on public.board for each row execute function public.poison();`);
  sql(`notify pgrst, 'reload schema'`);
  const { data: m } = await anon.schema('auth_api').rpc('sign_in_anonymously');
  // Until PostgREST has loaded the new table (a reload answers 404 meanwhile).
  await waitFor('the new table', async () => (await client(anonKey, m.access_token).from('board').insert({ body: 'w' })).status === 201);
  const inserts = await Promise.all(Array.from({ length: 12 }, () => client(anonKey, m.access_token).from('board').insert({ body: 'x' })));
  const { data: victim } = await anon.schema('auth_api').rpc('sign_in_anonymously');
  for (let i = 0; i < 3; i++) {
    await Promise.all(Array.from({ length: 12 }, () => client(anonKey, victim.access_token).from('notes').select()));
  }
  check('pooled connection: a trigger may not swap PostgREST\'s prepared statement (refused 42501, nothing stolen)',
    [true, 't', '0', '0'], [inserts.every((r) => r.status === 201), sql(`select (count(*) > 0)::text from public.loot where what = 'refused 42501'`).slice(0, 1),
      sql(`select count(*) from public.loot where what = 'poisoned'`),
      sql(`select count(*) from public.loot where what like 'stolen%'`)]);
  const victimStill = await client(anonKey, victim.access_token).from('notes').select();
  check('pooled connection: the next user\'s requests still work', [null, 0], [victimStill.error, victimStill.data?.length]);
  // Variant: settings for the rest of the session, left by the trigger: a response header
  // that sets a cookie, and a lock timeout of 1 ms. The request fails at commit; the next
  // users' requests on the connection carry neither.
  sql(`set role mallory;
       create or replace function public.poison() returns trigger language plpgsql as $f$
       begin
           perform pg_catalog.set_config('response.headers', '[{"Set-Cookie": "sb-access-token=ATTACKER; Path=/"}]', false);
           perform pg_catalog.set_config('lock_timeout', '1', false);
           return new;
       end $f$;`);
  await Promise.all(Array.from({ length: 12 }, () => client(anonKey, m.access_token).from('board').insert({ body: 'y' })));
  const later = await Promise.all(Array.from({ length: 24 }, () => fetch(`${BASE}/notes?select=id`, {
    headers: { apikey: anonKey, Authorization: `Bearer ${victim.access_token}` } })));
  check('pooled connection: settings a trigger left for the session reach no later request (no cookie, no lock timeout)',
    [[200], false], [[...new Set(later.map((r) => r.status))], later.some((r) => (r.headers.get('set-cookie') ?? '').includes('ATTACKER'))]);
  sql(`drop table public.board; drop table public.loot; drop function public.poison(); drop function public.capture(text)`);
  sql(`revoke create on schema public from mallory; revoke usage on schema auth from mallory; drop role mallory`);
  const { data: s2 } = await anon.schema('auth_api').rpc('sign_in_anonymously');
  const other = await client(anonKey, s2.access_token).from('notes').select();
  check('journey: another user sees none of them', [null, 0], [other.error, other.data.length]);
  const stolen = await client(anonKey, s2.access_token).from('notes').update({ body: 'mine now' }).eq('user_id', s1.user.id).select();
  check('journey: nor changes them', [null, 0], [stolen.error, stolen.data.length]);
  const { data: r1, error: re1 } = await u1.schema('auth_api').rpc('refresh_session', { refresh_token: s1.refresh_token });
  check('journey: refresh', [null, true], [re1, r1?.refresh_token !== s1.refresh_token]);
  const u1r = client(anonKey, r1.access_token);
  const { data: cu, error: ce } = await u1r.schema('auth_api').rpc('update_user', { attributes: { email: 'journey@example.com' } });
  check('journey: convert: update_user({email}): the change waits for its code', [null, 'journey@example.com', true],
    [ce, cu?.new_email, cu?.is_anonymous]);
  const code = newest('email_otp', 'email_change_new', 'journey@example.com');
  const { data: conv, error: cve } = await anon.schema('auth_api').rpc('verify_otp',
    { email: 'journey@example.com', token: code, type: 'email_change' });
  check('journey: convert: verify the code: permanent, same id',
    [null, false, s1.user.id], [cve, conv?.user?.is_anonymous, conv?.user?.id]);
  const after = await client(anonKey, conv.access_token).from('notes').select();
  check('journey: the notes stay with the user', [null, 1], [after.error, after.data.length]);
  const so = await rpc('sign_out', {}, anonKey, conv.access_token);
  check('journey: sign out', 204, so.status);
  const gone = await rpc('refresh_session', { refresh_token: conv.refresh_token }, anonKey);
  check('journey: the refresh token is dead: 400 refresh_token_not_found',
    [400, 'refresh_token_not_found'], [gone.status, gone.body.code]);

  // --- API keys.
  const adm = await rpc('admin_list_users', { page: 1, per_page: 5 }, serviceKey);
  check('api keys: service_role key calls the admin API', 200, adm.status);
  const noAdm = await rpc('admin_list_users', { page: 1, per_page: 5 }, anonKey);
  check('api keys: anon key may not (401)', 401, noAdm.status);
  const doomed = sql(`select auth.create_api_key('anon', description => 'to revoke')`);
  check('api keys: a new key works', 200, (await rpc('sign_in_anonymously', {}, doomed)).status);
  sql(`select auth.revoke_api_key('${jwtPart(doomed, 1).jti}')`);
  const revoked = await rpc('sign_in_anonymously', {}, doomed);
  check('api keys: revoked: 401 api_key_revoked at once', [401, 'api_key_revoked'], [revoked.status, revoked.body.code]);
  check('api keys: the others keep working', 200, (await rpc('sign_in_anonymously', {}, anonKey)).status);

  // --- Key rotation with PostgREST running: new keys work and removed keys stop, at once.
  const firstKid = sql(`select kid from auth.signing_keys where is_current`);
  const { data: old } = await anon.schema('auth_api').rpc('sign_in_anonymously');
  const newKid = sql(`select auth.rotate_signing_key('ES256')`);
  const { data: fresh } = await anon.schema('auth_api').rpc('sign_in_anonymously');
  check('rotation: new tokens carry the new kid', newKid,
    jwtPart(fresh.access_token, 0).kid);
  const newOk = await waitFor('the new key', async () => (await client(anonKey, fresh.access_token).from('notes').select()).status === 200);
  check('rotation: tokens of the new key are accepted within a second', true, newOk < 1000);
  check('rotation: tokens of the old key still work until it is removed', 200,
    (await client(anonKey, old.access_token).from('notes').select()).status);
  // The API keys were signed by the first key: make them again before removing it.
  const anonKey2 = sql(`select auth.create_api_key('anon')`);
  sql(`select auth.remove_signing_key('${firstKid}')`);
  const removedMs = await waitFor('the removal', async () => (await client(anonKey2, old.access_token).from('notes').select()).status === 401);
  check('rotation: tokens of a removed key get 401 within a second', true, removedMs < 1000);
  check('rotation: and so do API keys it signed', 401,
    (await fetch(`${BASE}/notes`, { headers: { apikey: anonKey, Authorization: `Bearer ${anonKey}` } })).status);
  const hsKid = sql(`select auth.add_signing_key('HS256', repeat('tier-secret-', 4))`);
  sql(`select auth.rotate_signing_key('HS256')`);
  const { data: hs } = await client(anonKey2).schema('auth_api').rpc('sign_in_anonymously');
  check('rotation: an HS256 key signs', 'HS256', jwtPart(hs.access_token, 0).alg);
  const hsOk = await waitFor('the HS256 key', async () => (await client(anonKey2, hs.access_token).from('notes').select()).status === 200);
  check('rotation: PostgREST verifies it (the secret reached it, not auth.jwks())',
    [true, false], [hsOk < 1000, sql(`select auth.jwks()::text`).includes(hsKid)]);
  sql(`select auth.rotate_signing_key('ES256')`);

  // --- Every error code: its status and its code in the JSON, through PostgREST, raised
  // by an application function that calls ours (scripts/postgrest.sh makes it).
  const codes = sql(`select json_agg(json_build_object('code', code, 'status', http_status)) from auth.error_codes()`);
  for (const { code, status } of JSON.parse(codes)) {
    const r = await rpc('raise_auth_error', { code }, anonKey2, anonKey2, 'public');
    check(`status: ${code}`, [status, code, `${code}: tier`], [r.status, r.body.code, r.body.message]);
  }
  // And as the flows raise them.
  const key = anonKey2;
  const wrong = await rpc('sign_in_with_password', { email: 'nobody@example.com', password: 'wrong password' }, key);
  check('status: a wrong password: 400 invalid_credentials', [400, 'invalid_credentials'], [wrong.status, wrong.body.code]);
  const weak = await rpc('sign_up', { email: 'weak@example.com', password: 'short' }, key);
  check('status: a weak password: 422 weak_password', [422, 'weak_password'], [weak.status, weak.body.code]);
  const noSession = await rpc('sign_out', {}, key);
  check('status: signing out with no session: 401 no_authorization', [401, 'no_authorization'], [noSession.status, noSession.body.code]);
  const badType = await rpc('verify_otp', { token_hash: 'x', type: 'nope' }, key);
  check('status: an unknown type: 400 validation_failed', [400, 'validation_failed'], [badType.status, badType.body.code]);
  let limited;
  for (let i = 0; i < 7; i++) limited = await rpc('sign_in_with_otp', { email: 'limited@example.com' }, key);
  const retryAfter = Number(limited.headers.get('retry-after'));
  check('status: a limit: 429 over_email_send_rate_limit with Retry-After',
    [429, 'over_email_send_rate_limit', true], [limited.status, limited.body.code, retryAfter >= 1 && retryAfter <= 3600]);
  check('status: the hint says the same wait', `Try again in ${retryAfter} seconds.`, limited.body.hint);

  // --- Password recovery.
  const signup = await rpc('sign_up', { email: 'rita@example.com', password: 'rita password 1' }, key);
  check('recovery: sign up', 200, signup.status);
  const confirm = await rpc('verify_otp', {
    email: 'rita@example.com', token: newest('email_otp', 'confirmation', 'rita@example.com'), type: 'signup' }, key);
  check('recovery: confirm by code', 200, confirm.status);
  const forgot = await rpc('reset_password_for_email', { email: 'rita@example.com' }, key);
  const unknown = await rpc('reset_password_for_email', { email: 'nobody-at-all@example.com' }, key);
  check('recovery: reset_password_for_email answers alike for an unknown address', [204, 204], [forgot.status, unknown.status]);
  const rec = await rpc('verify_otp', {
    email: 'rita@example.com', token: newest('email_otp', 'recovery', 'rita@example.com'), type: 'recovery' }, key);
  check('recovery: the code gives a session', [200, 'recovery'],
    [rec.status, jwtPart(rec.body.access_token, 1).amr[0].method]);
  const setPw = await rpc('update_user', { attributes: { password: 'rita password 2' } }, key, rec.body.access_token);
  check('recovery: update_user sets the new password', 200, setPw.status);
  const newPw = await rpc('sign_in_with_password', { email: 'rita@example.com', password: 'rita password 2' }, key);
  const oldPw = await rpc('sign_in_with_password', { email: 'rita@example.com', password: 'rita password 1' }, key);
  check('recovery: the new password signs in, the old one not', [200, 400], [newPw.status, oldPw.status]);

  // --- resend.
  await rpc('sign_up', { email: 'sam@example.com', password: 'sam password 1' }, key);
  const firstCode = newest('email_otp', 'confirmation', 'sam@example.com');
  const resent = await rpc('resend', { type: 'signup', email: 'sam@example.com' }, key);
  const secondCode = newest('email_otp', 'confirmation', 'sam@example.com');
  check('resend: signup sends a new confirmation', [204, '2'],
    [resent.status, sql(`select count(*) from auth.outbox where kind = 'confirmation' and recipient = 'sam@example.com'`)]);
  const stale = await rpc('verify_otp', { email: 'sam@example.com', token: firstCode, type: 'signup' }, key);
  const current = await rpc('verify_otp', { email: 'sam@example.com', token: secondCode, type: 'signup' }, key);
  check('resend: only the newest code confirms', [firstCode === secondCode ? 200 : 403, 200],
    [firstCode === secondCode ? 200 : stale.status, current.status]);
  const nothing = await rpc('resend', { type: 'signup', email: 'sam@example.com' }, key);
  check('resend: nothing pending: the same answer, no message', [204, '2'],
    [nothing.status, sql(`select count(*) from auth.outbox where kind = 'confirmation' and recipient = 'sam@example.com'`)]);
  const badResend = await rpc('resend', { type: 'magiclink', email: 'sam@example.com' }, key);
  check('resend: an unknown type: 400 validation_failed', [400, 'validation_failed'], [badResend.status, badResend.body.code]);

  // --- Phone OTP sign-in, and a phone that makes an anonymous user permanent.
  const otp = await rpc('sign_in_with_otp', { phone: '+86 139 1234 5678' }, key);
  check('phone: sign_in_with_otp({phone}) queues a text message', [204, 'sms'],
    [otp.status, sql(`select payload->>'channel' from auth.outbox where kind = 'sms' and recipient = '8613912345678'`)]);
  const ph = await rpc('verify_otp', { phone: '+86 139 1234 5678', token: newest('otp', 'sms', '8613912345678'), type: 'sms' }, key);
  check('phone: verify_otp({phone, token, type: sms}) signs in, phone confirmed',
    [200, '8613912345678', true], [ph.status, ph.body.user?.phone, ph.body.user?.phone_confirmed_at != null]);
  const resendSms = await rpc('resend', { type: 'sms', phone: '+86 139 1234 5678' }, key);
  check('phone: resend sms for a confirmed phone sends nothing', [204, '1'],
    [resendSms.status, sql(`select count(*) from auth.outbox where kind = 'sms' and recipient = '8613912345678'`)]);
  const { data: visitor } = await client(key).schema('auth_api').rpc('sign_in_anonymously');
  await rpc('update_user', { attributes: { phone: '+49 151 2345678' } }, key, visitor.access_token);
  const again = await rpc('resend', { type: 'phone_change', phone: '+49 151 2345678' }, key);
  check('phone: resend phone_change by the current phone (none yet: same answer)', 204, again.status);
  const pc = await rpc('verify_otp', {
    phone: '+49 151 2345678', token: newest('otp', 'phone_change', '491512345678'), type: 'phone_change' }, key);
  check('phone: phone_change makes the anonymous user permanent',
    [200, visitor.user.id, false], [pc.status, pc.body.user?.id, pc.body.user?.is_anonymous]);
  const byEmail = await rpc('verify_otp', { email: '491512345678', token: '000000', type: 'sms' }, key);
  check('phone: an sms code is never verified through email', [400, 'validation_failed'], [byEmail.status, byEmail.body.code]);

  // --- The seed recipe (Feishu) and Supabase's "managing user data" guide, verbatim,
  // each in a database of its own next to auth_ext.
  for (const db of ['recipe', 'guide']) {
    sql(`drop database if exists ${db}`, 'postgres');
    sql(`create database ${db}`, 'postgres');
    sql('create extension auth_ext', db);
  }
  sqlFile(new URL('./guides/feishu-recipe.sql', import.meta.url).pathname, 'recipe');
  const meta = `{"oauth_provider": "feishu", "oauth_open_id": "ou_7d8a", "name": "张三"}`;
  const created = sql(`select auth.admin_create_user('{"email": "feishu_ou_7d8a@oauth.local", "email_confirm": true,
                       "user_metadata": ${meta}}')->>'id'`, 'recipe');
  check('recipe: the trigger fills public.user_identities', 'feishu|ou_7d8a',
    sql(`select oauth_provider || '|' || oauth_open_id from public.user_identities where id = '${created}'`, 'recipe'));
  const link = sql(`select auth.admin_generate_link('magiclink', 'feishu_ou_7d8a@oauth.local')->>'hashed_token'`, 'recipe');
  check('recipe: generateLink then verifyOtp({token_hash, type: magiclink}) gives a session', created,
    sql(`select auth.verify_otp(token_hash => '${link}', type => 'magiclink')->'user'->>'id'`, 'recipe'));
  sql(`drop trigger if exists on_auth_user_created on auth.users`, 'recipe');
  const idp = [1, 2].map(() => sql(`select auth.sign_in_with_idp('wechat', 'o_9f', '{"nickname": "李四"}')->'user'->>'id'`, 'recipe'));
  check('recipe: after the habitual drop trigger, sign_in_with_idp still finds its user', [idp[0], '1'],
    [idp[1], sql(`select count(*) from auth.user_identities where provider = 'wechat' and provider_id = 'o_9f'`, 'recipe')]);
  sqlFile(new URL('./guides/supabase-managing-user-data.sql', import.meta.url).pathname, 'guide');
  const guided = sql(`select (auth.sign_up('gina@example.com', 'gina password 1',
                       '{"first_name": "Gina", "last_name": "Rossi"}'))->>'id'`, 'guide');
  check('guide: the profile row is made', 'Gina Rossi',
    sql(`select first_name || ' ' || last_name from public.profiles where id = '${guided}'`, 'guide'));
  check('guide: both triggers stand, ours under its own name', 'auth_ext_handle_new_user,on_auth_user_created',
    sql(`select string_agg(tgname, ',' order by tgname) from pg_trigger where tgrelid = 'auth.users'::regclass
         and tgname in ('auth_ext_handle_new_user', 'on_auth_user_created')`, 'guide'));
  for (const db of ['recipe', 'guide']) sql(`drop database ${db}`, 'postgres');

  finish('postgrest');
}

main().catch((e) => {
  crashed(e);
  finish('postgrest');
});
