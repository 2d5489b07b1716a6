// What the gateway tier's groups share: the addresses, supabase-js clients over a recording
// fetch, raw HTTP, the outbox, users, and the set-up. See tier.mjs.
import { literal, sql } from '../harness.mjs';
import { createClient } from '@supabase/supabase-js';

for (const name of ['BASE_URL', 'ANON_KEY', 'SERVICE_KEY', 'SITE_URL']) {
  if (!process.env[name]) throw new Error(`${name} is not set (scripts/gateway.sh sets it)`);
}
export const BASE = process.env.BASE_URL.replace(/\/+$/, '');
export const AUTH = `${BASE}/auth/v1`;
export const { ANON_KEY, SERVICE_KEY, SITE_URL } = process.env;
export const STAMP = Date.now();

// supabase-js makes a Realtime client in createClient, and on Node 20 (no WebSocket) that
// throws. Nothing here uses Realtime: a stand-in that refuses to connect lets every client,
// the seeds' own createClient calls included, be made as written.
globalThis.WebSocket ??= class NoRealtime {
  constructor() {
    throw new Error('the gateway tier does not use Realtime');
  }
};

// An auth-js error, shortly, for checks that expect none (null when there is none).
export const E = (error) => (error ? `${error.code ?? error.name} ${error.status}: ${error.message}` : null);
// What a user relies on in an error: its code and status.
export const codeOf = (error) => [error?.code ?? null, error?.status ?? null];

export const lit = literal;
// The newest message of a kind to a recipient (emails lower-cased, phones digits only).
export function outbox(kind, recipient, field) {
  const value = sql(`select payload->>${lit(field)} from auth.outbox
                     where kind = ${lit(kind)} and recipient = ${lit(recipient)} order by id desc limit 1`);
  if (!value) throw new Error(`auth.outbox has no ${kind} message with ${field} for ${recipient}`);
  return value;
}
export const outboxCount = (kind, recipient) =>
  Number(sql(`select count(*) from auth.outbox where kind like ${lit(kind)} and recipient = ${lit(recipient)}`));

// A part of a JWT (0 the header, 1 the claims), decoded.
export const jwtPart = (token, n) => JSON.parse(Buffer.from(token.split('.')[n], 'base64url'));
// The same token with `exp` a minute ago: what a stored access token looks like an hour
// later. Its signature no longer matches, which does not matter: auth-js never sends an
// expired access token anywhere, it refreshes with the refresh token instead.
export function expiredCopy(token) {
  const [header, payload, signature] = token.split('.');
  const claims = { ...jwtPart(token, 1), exp: Math.floor(Date.now() / 1000) - 60 };
  return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export async function waitFor(what, probe, ms = 10000) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await probe()) return Date.now() - start;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

let serial = 0;
export const address = (tag) => `tier-${STAMP}-${++serial}-${tag}@example.com`;
// A phone number of this run: E.164 digits (recipients in the outbox are digits only).
export const phoneDigits = () => `4915${String(STAMP).slice(-7)}${String(++serial).padStart(2, '0')}`;

// Every request supabase-js makes goes through here, so checks can see which calls a method
// made, with which token, and what /auth/v1 answered.
export const requests = [];
export async function recordingFetch(input, init = {}) {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  const res = await fetch(input, init);
  const entry = {
    method: (init.method ?? 'GET').toUpperCase(),
    path: (url.startsWith(BASE) ? url.slice(BASE.length) : url).split('?')[0],
    status: res.status,
    authorization: new Headers(init.headers).get('authorization'),
    body: undefined,
  };
  if (url.startsWith(AUTH)) {
    try {
      entry.body = JSON.parse(await res.clone().text());
    } catch {
      entry.body = null;
    }
  }
  requests.push(entry);
  return res;
}
export const since = (mark) => requests.slice(mark);

// An in-memory storage, as a browser's localStorage would be (sessions, PKCE code verifiers).
export const STORAGE_KEY = 'tier-auth';
export function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
    items,
  };
}
export const storedSession = (storage) => JSON.parse(storage.getItem(STORAGE_KEY));
export const storeSession = (storage, session) => storage.setItem(STORAGE_KEY, JSON.stringify(session));

// A supabase-js client as an application makes one. With `storage` the session persists
// there (as in a browser); without, it lives in the client's memory (as on a server).
export function client({ key = ANON_KEY, storage, flowType = 'implicit', autoRefreshToken = false } = {}) {
  return createClient(BASE, key, {
    auth: {
      persistSession: storage != null,
      storage,
      storageKey: STORAGE_KEY,
      autoRefreshToken,
      detectSessionInUrl: false,
      flowType,
    },
    global: { fetch: recordingFetch },
  });
}
// The events a client reports, in order.
export function recordEvents(supabase) {
  const events = [];
  supabase.auth.onAuthStateChange((event) => {
    events.push(event);
  });
  return events;
}

// A raw call, for statuses, headers and both error shapes. auth-js always sends
// X-Supabase-Api-Version: 2024-01-01, and so does this unless told otherwise.
// `token` is the bearer (the key when left out; null for none).
export async function http(method, path, { key = ANON_KEY, token, body, version = true, redirect = 'follow' } = {}) {
  const headers = {};
  if (key) headers.apikey = key;
  const bearer = token === undefined ? key : token;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (version) headers['X-Supabase-Api-Version'] = '2024-01-01';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${AUTH}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect,
  });
  const text = await res.text();
  let parsed = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
// A verification link as a mail client opens it: GET /verify, not following the redirect.
export function openLink(token, type, redirectTo, { apikey = true } = {}) {
  const url = `${AUTH}/verify?token=${token}&type=${type}&redirect_to=${encodeURIComponent(redirectTo)}`;
  return fetch(url, { redirect: 'manual', headers: apikey ? { apikey: ANON_KEY } : {} });
}
export const fragmentOf = (location) => new URLSearchParams(location.includes('#') ? location.split('#')[1] : '');

// A confirmed user with a password, made by the operator (not through the gateway).
export function makeUser(tag, attributes = {}) {
  const email = address(tag);
  const password = `tier ${STAMP} ${tag} passphrase`;
  const user = { email, password, email_confirm: true, ...attributes };
  const id = sql(`select auth.admin_create_user(${lit(JSON.stringify(user))}::jsonb)->>'id'`);
  return { id, email, password };
}
export async function signIn(user, options) {
  const supabase = client(options);
  const { data, error } = await supabase.auth.signInWithPassword({ email: user.email, password: user.password });
  if (error) throw new Error(`signing in ${user.email}: ${E(error)}`);
  return { supabase, session: data.session };
}
// Whether the server still accepts an access token (GET /user).
export async function tokenWorks(token) {
  const { error } = await client().auth.getUser(token);
  return error == null;
}

// ---------------------------------------------------------------------------------------------
// Set-up: the tables the seeds' code needs, and a clean slate for the fixed address the
// anonymous guide uses.
export async function setUp() {
  await waitFor('the gateway', async () => {
    try {
      return (await fetch(`${AUTH}/health`, { headers: { apikey: ANON_KEY } })).status === 200;
    } catch {
      return false;
    }
  }, 20000);
  sql(`select auth.admin_delete_user(id) from auth.users
       where 'valid.email@supabase.io' in (email, email_change)`);
  // The anonymous guide's "your_table". Its step 5 moves an anonymous user's rows with the
  // existing account's session, which owner policies alone forbid (the rows are not its own).
  // These two policies are what that code needs: a permanent user may see and take over rows
  // of any anonymous user. That is the guide's approach, not a safe one (anyone who learns an
  // anonymous user's id can take its rows); auth.merge_anonymous_user is the safe way.
  sql(`drop table if exists public.your_table;
       create table public.your_table (
           id      uuid primary key default gen_random_uuid(),
           user_id uuid not null default auth.uid() references auth.users on delete cascade,
           item    text not null);
       select auth.enable_owner_policies('public.your_table');
       grant select, insert, update, delete on public.your_table to authenticated;
       grant select, update, delete on public.your_table to auth_ext_app;
       create or replace function public.tier_owner_is_anonymous(owner_id uuid) returns boolean
           language sql stable security definer set search_path = ''
           as $$ select coalesce((select u.is_anonymous from auth.users u where u.id = owner_id), false) $$;
       revoke execute on function public.tier_owner_is_anonymous(uuid) from public;
       grant execute on function public.tier_owner_is_anonymous(uuid) to authenticated;
       create policy tier_take_over_select on public.your_table for select to authenticated
           using ((select auth.is_permanent()) and public.tier_owner_is_anonymous(user_id));
       create policy tier_take_over_update on public.your_table for update to authenticated
           using ((select auth.is_permanent()) and public.tier_owner_is_anonymous(user_id))
           with check (user_id = (select auth.uid()));
       notify pgrst, 'reload schema';`);
  // Until PostgREST reloads its schema cache, the table is unknown to it (404).
  await waitFor('PostgREST to see your_table', async () =>
    (await fetch(`${BASE}/rest/v1/your_table?select=id&limit=1`, {
      headers: { apikey: ANON_KEY, Authorization: `Bearer ${ANON_KEY}` } })).status !== 404);
}
