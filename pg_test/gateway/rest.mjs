import { check, sql } from '../harness.mjs';
import { ANON_KEY, AUTH, BASE, E, STAMP, client, http, lit, requests } from './common.mjs';

// 6. /rest/v1 through the gateway, with the session supabase-js holds.
export async function rest() {
  const a = client();
  const { data: sa } = await a.auth.signInAnonymously();
  const ins = await a.from('todos').insert([{ task: `tier ${STAMP} one` }, { task: `tier ${STAMP} two` }]).select();
  check('rest: an anonymous user inserts todos; user_id defaults to auth.uid()', [null, [sa.user.id, sa.user.id]],
    [E(ins.error), ins.data?.map((t) => t.user_id)]);
  const mine = await a.from('todos').select('*');
  check('rest: select sees only its own rows', [null, 2, true],
    [E(mine.error), mine.data?.length, mine.data?.every((t) => t.user_id === sa.user.id)]);
  const b = client();
  await b.auth.signInAnonymously();
  const theirs = await b.from('todos').select('*');
  check('rest: another user sees none of them', [null, 0], [E(theirs.error), theirs.data?.length]);
  const taken = await b.from('todos').update({ task: 'mine now' }).eq('user_id', sa.user.id).select();
  check('rest: nor changes them', [null, 0], [E(taken.error), taken.data?.length]);
  // The key as the apikey query parameter, as Supabase's gateway takes it; PostgREST never
  // sees it (it would read it as a filter on a column named apikey).
  const byQuery = await fetch(`${BASE}/rest/v1/todos?select=id&apikey=${encodeURIComponent(ANON_KEY)}`,
    { headers: { Authorization: `Bearer ${sa.session.access_token}` } });
  const noKey = await fetch(`${BASE}/rest/v1/todos?select=id`, { headers: { Authorization: `Bearer ${sa.session.access_token}` } });
  check('rest: the apikey query parameter serves as the key, and no key is no_api_key', [200, 2, 401],
    [byQuery.status, byQuery.status === 200 ? (await byQuery.json()).length : null, noKey.status]);

  // Signing out ends data access at once, not when the access token expires (review).
  const token = sa.session.access_token;
  await a.auth.signOut();
  const after = await fetch(`${BASE}/rest/v1/todos?select=id`, { headers: { apikey: ANON_KEY, Authorization: `Bearer ${token}` } });
  check('rest: a signed-out session\'s token no longer reads', [403, 'session_not_found'],
    [after.status, (await after.json()).error_code]);
  // What the client claims in forwarding headers is not what PostgREST is told.
  const spoof = await fetch(`${BASE}/rest/v1/rpc/sign_in_anonymously`, {
    method: 'POST',
    headers: { apikey: ANON_KEY, Authorization: `Bearer ${ANON_KEY}`, 'Content-Profile': 'auth_api',
      'Content-Type': 'application/json', 'X-Forwarded-For': '198.51.100.9', 'X-Real-IP': '198.51.100.9',
      Forwarded: 'for=198.51.100.9' },
    body: '{}',
  });
  const spoofed = (await spoof.json()).user?.id;
  check('rest: forwarding headers from the client are replaced by the gateway\'s view', [200, '127.0.0.1'],
    [spoof.status, sql(`select host(ip) from auth.sessions where user_id = ${lit(spoofed)}`)]);
}


// Requests whose clients go away mid-flight: each transaction still ends before its
// connection serves another request, so none is left open and the next requests work.
export async function abandoned() {
  const aborted = await Promise.allSettled(Array.from({ length: 24 }, (_, i) => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), i % 4);
    return fetch(`${AUTH}/signup`, {
      method: 'POST',
      headers: { apikey: ANON_KEY, Authorization: `Bearer ${ANON_KEY}`, 'Content-Type': 'application/json' },
      body: '{}',
      signal: controller.signal,
    });
  }));
  check('abandoned requests: some were cut off by their clients', true, aborted.some((r) => r.status === 'rejected'));
  await new Promise((resolve) => setTimeout(resolve, 500));
  check('abandoned requests: no gateway connection is left inside a transaction', '0',
    sql(`select count(*) from pg_stat_activity where usename = 'auth_gateway' and state like 'idle in transaction%'`));
  const after = await Promise.all(Array.from({ length: 8 }, () => http('POST', '/signup', { body: {} })));
  check('abandoned requests: the next sign-ins all succeed', [200], [...new Set(after.map((r) => r.status))]);
}
