// Sign-in and sign-out, as supabase-js calls them: anonymous, email and password, OTP
// by email and phone, signing out.
import { check } from '../harness.mjs';
import { E, SITE_URL, STAMP, address, client, codeOf, http, jwtPart, makeUser, outbox, outboxCount, phoneDigits, signIn, tokenWorks } from './common.mjs';

// 1. Every auth method, as supabase-js calls it.
export async function anonymous() {
  const anon = client();
  const { data: a, error: ae } = await anon.auth.signInAnonymously({ options: { data: { theme: 'dark' } } });
  check('anonymous: signInAnonymously gives a session', [null, true, 'bearer'], [E(ae), a.session != null, a.session?.token_type]);
  check('anonymous: user.is_anonymous, no email, the data as user_metadata', [true, '', 'dark'],
    [a.user?.is_anonymous, a.user?.email ?? '', a.user?.user_metadata?.theme]);
  const aClaims = jwtPart(a.session.access_token, 1);
  check('anonymous: the JWT says is_anonymous: true, role authenticated, sub the user',
    [true, 'authenticated', a.user.id], [aClaims.is_anonymous, aClaims.role, aClaims.sub]);
}

// Email and password: sign up, resend, confirm with the code; recovery; the user's own account.
export async function emailAndPassword() {
  const email = address('signup');
  const password = `tier ${STAMP} first passphrase`;
  const ada = client();
  const { data: su, error: sue } = await ada.auth.signUp({ email, password });
  check('signUp: a user and no session until confirmed', [null, email, null, 1],
    [E(sue), su.user?.email, su.session, outboxCount('confirmation', email)]);
  const { error: re } = await ada.auth.resend({ type: 'signup', email });
  check('resend({type: signup}) queues a fresh confirmation', [null, 2], [E(re), outboxCount('confirmation', email)]);
  const { data: vc, error: vce } = await ada.auth.verifyOtp({ email, token: outbox('confirmation', email, 'email_otp'), type: 'signup' });
  check('verifyOtp({email, token, type: signup}): a session of the same user, email confirmed',
    [null, su.user.id, true, true], [E(vce), vc.user?.id, vc.session != null, vc.user?.email_confirmed_at != null]);
  const { data: pw, error: pwe } = await client().auth.signInWithPassword({ email, password });
  check('signInWithPassword (email)', [null, su.user.id, 'password'],
    [E(pwe), pw.user?.id, pw.session && jwtPart(pw.session.access_token, 1).amr?.[0]?.method]);
  const { error: wrong } = await client().auth.signInWithPassword({ email, password: 'not the passphrase' });
  check('signInWithPassword with a wrong password: invalid_credentials 400', ['invalid_credentials', 400], codeOf(wrong));

  // Forgot password.
  const { error: rpe } = await client().auth.resetPasswordForEmail(email, { redirectTo: SITE_URL });
  check('resetPasswordForEmail queues a recovery message', [null, 1], [E(rpe), outboxCount('recovery', email)]);
  const rc = client();
  const { data: rv, error: rve } = await rc.auth.verifyOtp({ email, token: outbox('recovery', email, 'email_otp'), type: 'recovery' });
  check('verifyOtp({type: recovery}) gives a session', [null, su.user.id, true], [E(rve), rv.user?.id, rv.session != null]);
  const password2 = `tier ${STAMP} second passphrase`;
  const { data: nu, error: npe } = await rc.auth.updateUser({ password: password2 });
  check('updateUser({password}) in the recovery session: the same user', [null, su.user.id], [E(npe), nu.user?.id]);
  const { data: np, error: npse } = await client().auth.signInWithPassword({ email, password: password2 });
  const { error: op } = await client().auth.signInWithPassword({ email, password });
  check('the new password signs in, the old one is invalid_credentials', [null, su.user.id, 'invalid_credentials'],
    [E(npse), np.user?.id, op?.code ?? null]);

  // The signed-in user's own account.
  const me = client();
  const { data: ms } = await me.auth.signInWithPassword({ email, password: password2 });
  const { error: rae } = await me.auth.reauthenticate();
  check('reauthenticate() resolves and queues a code', [null, 1], [E(rae), outboxCount('reauthentication', email)]);
  const { data: gu, error: gue } = await me.auth.getUser();
  check('getUser() (asks the server)', [null, su.user.id, email], [E(gue), gu.user?.id, gu.user?.email]);
  const { data: gj, error: gje } = await client().auth.getUser(ms.session.access_token);
  check('getUser(jwt) from a client with no session', [null, su.user.id], [E(gje), gj.user?.id]);
  await me.auth.updateUser({ data: { theme: 'dark' } });
  const { data: md, error: mde } = await me.auth.updateUser({ data: { lang: 'de' } });
  check('updateUser({data}) merges into user_metadata', [null, 'dark', 'de'],
    [E(mde), md.user?.user_metadata?.theme, md.user?.user_metadata?.lang]);
  const { data: ids, error: idse } = await me.auth.getUserIdentities();
  check('getUserIdentities lists the email identity', [null, ['email']], [E(idse), ids?.identities?.map((i) => i.provider)]);
  const { data: rs, error: rse } = await me.auth.refreshSession();
  const sessionId = (session) => session && jwtPart(session.access_token, 1).session_id;
  check('refreshSession(): a new refresh token, the same session', [null, true, sessionId(ms.session)],
    [E(rse), rs.session?.refresh_token !== ms.session.refresh_token, sessionId(rs.session)]);
  const byUser = await http('GET', '/admin/users', { token: rs.session?.access_token });
  check('GET /admin/users with a user\'s token: 403 not_admin', [403, 'not_admin'], [byUser.status, byUser.body?.code]);
}

// Magic links, codes and text messages.
export async function otp() {
  // Magic link and its code.
  const ml = address('magic');
  const mc = client();
  const { error: oe } = await mc.auth.signInWithOtp({ email: ml });
  check('signInWithOtp({email}) queues a magic link', [null, 1], [E(oe), outboxCount('magiclink', ml)]);
  const { data: v1, error: v1e } = await mc.auth.verifyOtp({ email: ml, token: outbox('magiclink', ml, 'email_otp'), type: 'email' });
  check('verifyOtp({email, token, type: email}) signs in', [null, ml, false, true],
    [E(v1e), v1.user?.email, v1.user?.is_anonymous, v1.session != null]);
  await mc.auth.signInWithOtp({ email: ml });
  const { data: v2, error: v2e } = await client().auth.verifyOtp({ token_hash: outbox('magiclink', ml, 'token_hash'), type: 'magiclink' });
  check('verifyOtp({token_hash, type: magiclink}) signs in the same user', [null, v1.user?.id, true],
    [E(v2e), v2.user?.id, v2.session != null]);

  // Phone.
  const phone = phoneDigits();
  const pc = client();
  const { error: poe } = await pc.auth.signInWithOtp({ phone: `+${phone}` });
  check('signInWithOtp({phone}) queues a text message (kind sms, recipient digits only)', [null, 'sms'],
    [E(poe), outbox('sms', phone, 'channel')]);
  const { data: pv, error: pve } = await pc.auth.verifyOtp({ phone: `+${phone}`, token: outbox('sms', phone, 'otp'), type: 'sms' });
  check('verifyOtp({phone, token, type: sms}) signs in, phone confirmed', [null, phone, true, true],
    [E(pve), pv.user?.phone, pv.user?.phone_confirmed_at != null, pv.session != null]);
  const { data: pi, error: pie } = await pc.auth.getUserIdentities();
  check('getUserIdentities: the phone identity, with the identity_id unlinkIdentity needs', [null, ['phone'], 'string'],
    [E(pie), pi?.identities?.map((i) => i.provider), typeof pi?.identities?.[0]?.identity_id]);
  const { error: ue } = await pc.auth.unlinkIdentity(pi.identities[0]);
  check('unlinkIdentity of the last identity: single_identity_not_deletable 422',
    ['single_identity_not_deletable', 422], codeOf(ue));
}

// Signing out: local, others, and auth-js's default, which is global.
export async function signOuts() {
  const u = makeUser('signout');
  const [s1, s2, s3] = [await signIn(u), await signIn(u), await signIn(u)];
  const { error: le } = await s1.supabase.auth.signOut({ scope: 'local' });
  check('signOut({scope: local}) ends this session only', [null, false, true],
    [E(le), await tokenWorks(s1.session.access_token), await tokenWorks(s2.session.access_token)]);
  const { error: gone } = await client().auth.getUser(s1.session.access_token);
  check('getUser(a signed-out token) fails (403 session_not_found, which auth-js reports as AuthSessionMissingError)',
    'AuthSessionMissingError', gone?.name ?? null);
  const raw = await http('GET', '/user', { token: s1.session.access_token });
  check('GET /user with a signed-out token: 403 session_not_found', [403, 'session_not_found'], [raw.status, raw.body?.code]);
  const { error: oth } = await s2.supabase.auth.signOut({ scope: 'others' });
  check('signOut({scope: others}) ends the other sessions and keeps this one', [null, false, true],
    [E(oth), await tokenWorks(s3.session.access_token), await tokenWorks(s2.session.access_token)]);
  const s4 = await signIn(u);
  const { error: dg } = await s2.supabase.auth.signOut();
  check('signOut() (auth-js default scope: global) ends every session of the user', [null, false, false],
    [E(dg), await tokenWorks(s2.session.access_token), await tokenWorks(s4.session.access_token)]);
  check('signOut() clears the client\'s session', null, (await s2.supabase.auth.getSession()).data.session);
}

// The admin API, with the service key.
