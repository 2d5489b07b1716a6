// The gateway on the open internet, tried as an attacker and an operator would: bearer
// forms PostgREST reads that the gateway must read alike, clients that send slowly or
// not at all, bodies PostgREST cannot take, and a database that goes away. Started by
// scripts/gateway.sh after tier.mjs, with the same environment; closes with
// "N passed, N failed".
import { spawn } from 'node:child_process';
import net from 'node:net';
import { check, crashed, finish, literal, sql } from '../harness.mjs';
import { createClient } from '@supabase/supabase-js';

const BASE = process.env.BASE_URL.replace(/\/+$/, '');
const AUTH = `${BASE}/auth/v1`;
const { ANON_KEY } = process.env;
const { hostname, port } = new URL(BASE);
globalThis.WebSocket ??= class NoRealtime {
  constructor() {
    throw new Error('this tier does not use Realtime');
  }
};

// A raw TCP connection to the gateway: what it was sent, when it was closed (ms after
// the connection opened, or null if it still stood at `giveUpMs`), and what came back.
function rawConnection(steps, giveUpMs) {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(Number(port), hostname);
    let received = '';
    let closedAt = null;
    const timers = [];
    socket.on('data', (d) => { received += d.toString('latin1'); });
    socket.on('error', () => {});
    socket.on('close', () => {
      closedAt = Date.now() - started;
      timers.forEach(clearTimeout);
      resolve({ closedAt, received });
    });
    socket.on('connect', () => {
      for (const [atMs, bytes] of steps) timers.push(setTimeout(() => socket.write(bytes), atMs));
      timers.push(setTimeout(() => { socket.destroy(); resolve({ closedAt: null, received }); }, giveUpMs));
    });
  });
}

// 1. Bearer forms: a signed-out session's token, sent as PostgREST would still read it,
//    gets no data (review: `Bearer<TAB>token` passed the gateway unchecked).
async function bearerForms() {
  const a = createClient(BASE, ANON_KEY, { auth: { persistSession: false, autoRefreshToken: false } });
  const { data: signedIn } = await a.auth.signInAnonymously();
  const token = signedIn.session.access_token;
  const { data: inserted, error: insertError } = await a.from('todos').insert({ task: 'open internet' }).select();
  check('bearer forms: the session writes a row first, its own', [null, signedIn.user.id],
    [insertError?.message ?? null, inserted?.[0]?.user_id]);
  await a.auth.signOut();
  for (const [name, value] of [['Bearer<TAB>', `Bearer\t${token}`], ['bearer and two spaces', `bearer  ${token}`],
    ['BEARER<TAB><SPACE>', `BEARER\t ${token}`]]) {
    const response = await fetch(`${BASE}/rest/v1/todos?select=task`, { headers: { apikey: ANON_KEY, Authorization: value } });
    const body = await response.json();
    check(`bearer forms: a signed-out token as "${name}" reads nothing`, [403, 'session_not_found'],
      [response.status, body.error_code ?? body.code]);
  }
  // A header the gateway does not read as a bearer never reaches PostgREST: the request is anon's.
  const garbled = await fetch(`${BASE}/rest/v1/todos?select=task`,
    { headers: { apikey: ANON_KEY, Authorization: `Bearer ${token} trailing` } });
  const refusal = await garbled.json();
  check('bearer forms: an Authorization the gateway cannot read is dropped: the request is anon\'s, refused', [401, '42501'],
    [garbled.status, refusal.code]);
}

// 2. Slow and silent clients are timed out: headers within 10 s (also between requests
//    of a kept-alive connection), bodies within 10 s.
async function slowClients() {
  const dribble = Array.from({ length: 30 }, (_, i) => [i * 1000, i === 0 ? 'GET /auth/v1/health HTTP/1.1\r\n' : 'X']);
  const request = `GET /auth/v1/health HTTP/1.1\r\nHost: ${hostname}\r\napikey: ${ANON_KEY}\r\n\r\n`;
  const slowBody = `POST /auth/v1/signup HTTP/1.1\r\nHost: ${hostname}\r\napikey: ${ANON_KEY}\r\n`
    + 'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{';
  const [headers, idle, body] = await Promise.all([
    rawConnection(dribble, 25000),
    rawConnection([[0, request]], 25000),
    rawConnection([[0, slowBody]], 25000),
  ]);
  check('slow clients: headers sent a byte a second are cut off after about 10 s', true,
    headers.closedAt !== null && headers.closedAt >= 9000 && headers.closedAt < 20000);
  check('slow clients: an idle kept-alive connection is closed after about 10 s, its request answered', [true, true],
    [idle.received.startsWith('HTTP/1.1 200'), idle.closedAt !== null && idle.closedAt >= 9000 && idle.closedAt < 20000]);
  check('slow clients: a body that never arrives is answered 408 after about 10 s', ['408', true],
    [body.received.split(' ')[1], body.closedAt !== null && body.closedAt < 20000]);
}

// 3. Bodies PostgREST would drop the connection on (not UTF-8) are refused first, with
//    PostgREST's own answer, not a 502.
async function invalidBodies() {
  const response = await fetch(`${BASE}/rest/v1/todos`, {
    method: 'POST',
    headers: { apikey: ANON_KEY, Authorization: `Bearer ${ANON_KEY}`, 'Content-Type': 'application/json' },
    body: Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
  });
  check('invalid bodies: not UTF-8 is answered 400 PGRST102', [400, 'PGRST102'], [response.status, (await response.json()).code]);
  const a = createClient(BASE, ANON_KEY, { auth: { persistSession: false, autoRefreshToken: false } });
  await a.auth.signInAnonymously();
  const after = await a.from('todos').select('id');
  check('invalid bodies: PostgREST still serves the next request', [200, 0], [after.status, after.data?.length]);
}

// 4. The database goes away under a request (57P01, as a fast shutdown or a terminate
//    does): the request hears 503 with Retry-After, never 500, and the next are served.
async function databaseGone() {
  const email = `gone-${Date.now()}@example.com`;
  sql(`select auth.admin_create_user(jsonb_build_object('email', ${literal(email)},
         'password', 'correct horse battery', 'email_confirm', true))`);
  // Hold the user's row, so that the gateway's sign-in waits in the database.
  const holder = spawn('psql', ['-X', '-q', '-c', 'begin',
    '-c', `select from auth.users where email = ${literal(email)} for update`, '-c', 'select pg_sleep(5)', '-c', 'commit'],
  { env: process.env, stdio: 'ignore' });
  const waitFor = async (probe) => {
    for (let i = 0; i < 200; i += 1) {
      const value = probe();
      if (value) return value;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return null;
  };
  await waitFor(() => sql(`select count(*) from pg_stat_activity where wait_event = 'PgSleep'`) === '1');
  const pending = fetch(`${AUTH}/token?grant_type=password`, {
    method: 'POST', headers: { apikey: ANON_KEY, 'Content-Type': 'application/json', 'X-Supabase-Api-Version': '2024-01-01' },
    body: JSON.stringify({ email, password: 'correct horse battery' }),
  });
  const waiting = await waitFor(() => sql(`select pid from pg_stat_activity
                                          where usename = 'auth_gateway' and wait_event_type = 'Lock' limit 1`));
  sql(`select pg_terminate_backend(${Number(waiting)})`);
  const response = await pending;
  check('database gone: the request cut off (57P01) is answered 503 with Retry-After, never 500', [503, true],
    [response.status, Number(response.headers.get('retry-after')) > 0]);
  await new Promise((resolve) => holder.on('exit', resolve));
  const again = await fetch(`${AUTH}/token?grant_type=password`, {
    method: 'POST', headers: { apikey: ANON_KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: 'correct horse battery' }),
  });
  check('database gone: the next request is served', 200, again.status);
}

// 5. One client address cannot hold every connection: past 128 open ones (clients
//    connecting directly, no trusted proxy), its next connection is closed at once, and
//    others are still served.
async function connectionsPerAddress() {
  const open = await Promise.all(Array.from({ length: 128 }, () => new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname, () => resolve(socket));
    socket.on('error', () => resolve(socket));
  })));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const extra = await rawConnection([[0, `GET /auth/v1/health HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`]], 5000);
  check('connections per address: past 128 open, the next one is closed unanswered', [true, ''],
    [extra.closedAt !== null && extra.closedAt < 5000, extra.received]);
  open.forEach((socket) => socket.destroy());
  await new Promise((resolve) => setTimeout(resolve, 300));
  const after = await fetch(`${AUTH}/health`, { headers: { apikey: ANON_KEY } });
  check('connections per address: once they close, the address is served again', 200, after.status);
}

const sections = { bearerForms, slowClients, invalidBodies, databaseGone, connectionsPerAddress };

async function main() {
  for (const [name, run] of Object.entries(sections)) {
    console.log(`--- ${name}`);
    try {
      await run();
    } catch (e) {
      crashed(e);
    }
  }
  finish('gateway on the open internet');
}

main().catch((e) => {
  crashed(e);
  finish('gateway on the open internet');
});
