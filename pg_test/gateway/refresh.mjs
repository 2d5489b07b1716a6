import { check } from '../harness.mjs';
import { E, client, expiredCopy, makeUser, memoryStorage, recordEvents, requests, signIn, since, storeSession, storedSession, tokenWorks, waitFor } from './common.mjs';

// 3. Refresh and events. Access tokens live 3600 s, so nothing expires during the run. To
// make auth-js refresh by itself, the tier ages the session the client holds: it rewrites
// expires_at in the client's storage (or hands setSession an access token whose exp is in the
// past). The server is never fooled: the refresh token is real, and auth-js refreshes with it
// exactly as it would an hour in. Three paths, all of them auth-js's own:
//   - the autoRefreshToken ticker (what keeps a long-open app signed in),
//   - getSession() before a /rest/v1 call (any request with an about-to-expire session),
//   - setSession({access_token, refresh_token}) with an expired access token (SSR, links).
export async function refresh() {
  const user = makeUser('events');
  const storage = memoryStorage();
  const ev = client({ storage });
  const events = recordEvents(ev);
  await waitFor('INITIAL_SESSION', () => events.includes('INITIAL_SESSION'));
  await ev.auth.signInWithPassword({ email: user.email, password: user.password });
  await ev.auth.refreshSession();
  await ev.auth.updateUser({ data: { step: 'events' } });
  const other = await signIn(user);
  const { error: se } = await ev.auth.signOut({ scope: 'global' });
  check('events: sign in, refreshSession, updateUser, signOut',
    [null, 'INITIAL_SESSION', 'SIGNED_IN', 'TOKEN_REFRESHED', 'USER_UPDATED', 'SIGNED_OUT'], [E(se), ...events]);
  check('signOut({scope: global}) ends the user\'s other sessions too', false, await tokenWorks(other.session.access_token));

  // Two tabs refresh with the same token at once (or a client lost the answer and retries).
  const { session: s0 } = await signIn(user);
  const { data: t1, error: t1e } = await client().auth.refreshSession({ refresh_token: s0.refresh_token });
  const { data: t2, error: t2e } = await client().auth.refreshSession({ refresh_token: s0.refresh_token });
  check('refresh: the same refresh token spent twice at once gives both the one live token', [null, null, true, true],
    [E(t1e), E(t2e), t1.session?.refresh_token !== s0.refresh_token, t1.session?.refresh_token === t2.session?.refresh_token]);

  // The ticker.
  const tickStorage = memoryStorage();
  const ticking = client({ storage: tickStorage, autoRefreshToken: true });
  const tickEvents = recordEvents(ticking);
  await ticking.auth.signInWithPassword({ email: user.email, password: user.password });
  const fresh = storedSession(tickStorage);
  storeSession(tickStorage, { ...fresh, expires_at: Math.floor(Date.now() / 1000) + 60 });
  await ticking.auth.stopAutoRefresh();
  await ticking.auth.startAutoRefresh(); // its first tick runs at once
  await waitFor('the ticker to refresh', () => tickEvents.includes('TOKEN_REFRESHED'));
  await ticking.auth.stopAutoRefresh();
  const ticked = storedSession(tickStorage);
  check('auto refresh: the autoRefreshToken ticker refreshes a session a minute from expiry', [true, true],
    [ticked.refresh_token !== fresh.refresh_token, ticked.expires_at > Date.now() / 1000 + 3000]);
  const mark = requests.length;
  const { status } = await ticking.from('todos').select('id');
  check('auto refresh: /rest/v1 then goes with the new access token', [200, `Bearer ${ticked.access_token}`],
    [status, since(mark).find((r) => r.path === '/rest/v1/todos')?.authorization]);

  // getSession() before a request.
  const lazyStorage = memoryStorage();
  const lazy = client({ storage: lazyStorage });
  await lazy.auth.signInWithPassword({ email: user.email, password: user.password });
  const held = storedSession(lazyStorage);
  storeSession(lazyStorage, { ...held, expires_at: Math.floor(Date.now() / 1000) + 30 });
  const mark2 = requests.length;
  const { status: ls } = await lazy.from('todos').select('id');
  const after = storedSession(lazyStorage);
  check('auto refresh: a /rest/v1 call with an about-to-expire session refreshes first, then sends the new token',
    [200, ['POST /auth/v1/token', 'GET /rest/v1/todos'], true, `Bearer ${after.access_token}`],
    [ls, since(mark2).map((r) => `${r.method} ${r.path}`), after.refresh_token !== held.refresh_token,
      since(mark2).at(-1)?.authorization]);

  // setSession with an expired access token.
  const { session: s5 } = await signIn(user);
  const restored = client();
  const restoredEvents = recordEvents(restored);
  const mark3 = requests.length;
  const { data: rs, error: rse } = await restored.auth.setSession({
    access_token: expiredCopy(s5.access_token), refresh_token: s5.refresh_token });
  check('auto refresh: setSession with an expired access token refreshes (POST /token, no GET /user)',
    [null, ['POST /auth/v1/token'], true, true],
    [E(rse), since(mark3).map((r) => `${r.method} ${r.path}`), rs.session?.refresh_token !== s5.refresh_token,
      restoredEvents.includes('TOKEN_REFRESHED')]);
  const { data: ru, error: rue } = await restored.auth.getUser();
  check('auto refresh: the refreshed session works', [null, user.id], [E(rue), ru.user?.id]);
}
