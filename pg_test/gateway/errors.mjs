import { check } from '../harness.mjs';
import { AUTH, E, STAMP, address, client, codeOf, http, jwtPart, makeUser, outbox, requests, signIn, since } from './common.mjs';

// 4. Errors, with the code and status of README's error table (its HTTP column), and the
// service endpoints.
export async function errors() {
  const { error: weak } = await client().auth.signUp({ email: address('weak'), password: 'short' });
  check('signUp with a weak password: weak_password 422', ['weak_password', 422], codeOf(weak));
  const wc = address('wrongcode');
  await client().auth.signInWithOtp({ email: wc });
  const real = outbox('magiclink', wc, 'email_otp');
  const wrongCode = String((Number(real) + 1) % 1000000).padStart(6, '0');
  const { error: bad } = await client().auth.verifyOtp({ email: wc, token: wrongCode, type: 'email' });
  check('verifyOtp with a wrong code: otp_expired 403 "Token has expired or is invalid" (GoTrue verify.go)',
    ['otp_expired', 403, 'Token has expired or is invalid'], [...codeOf(bad), bad?.message]);
  const { error: garbage } = await client().auth.refreshSession({ refresh_token: 'not-a-refresh-token-of-ours' });
  check('refresh with a garbage refresh token: refresh_token_not_found 400', ['refresh_token_not_found', 400], codeOf(garbage));
  // README: with secure_email_change on, a confirmed email identity is not unlinked (GoTrue
  // would say single_identity_not_deletable for a user's only identity).
  const { supabase: eu } = await signIn(makeUser('unlink'));
  const { data: ei } = await eu.auth.getUserIdentities();
  const { error: ue } = await eu.auth.unlinkIdentity(ei.identities[0]);
  check('unlinkIdentity of a confirmed email (secure_email_change on): email_identity_not_deletable 422',
    ['email_identity_not_deletable', 422], codeOf(ue));

  // Both error shapes.
  const creds = { email: `tier-${STAMP}-nobody@example.com`, password: 'not a password of anyone' };
  const v = await http('POST', '/token?grant_type=password', { body: creds });
  check('errors: with X-Supabase-Api-Version 2024-01-01: {code: error_code, message}, and the header echoed '
    + '(auth-js reads code only then)',
    [400, 'invalid_credentials', 'string', '2024-01-01'],
    [v.status, v.body?.code, typeof v.body?.message, v.headers.get('x-supabase-api-version')]);
  const l = await http('POST', '/token?grant_type=password', { body: creds, version: false });
  check('errors: without it: {code: status, error_code, msg}', [400, 400, 'invalid_credentials', 'string'],
    [l.status, l.body?.code, l.body?.error_code, typeof l.body?.msg]);

  // The service endpoints.
  check('no apikey header: /auth/v1/settings answers 401', 401, (await fetch(`${AUTH}/settings`)).status);
  const st = await http('GET', '/settings');
  check('GET /settings: external.anonymous_users and external.email on, mailer_autoconfirm off', [200, true, true, false],
    [st.status, st.body?.external?.anonymous_users, st.body?.external?.email, st.body?.mailer_autoconfirm]);
  check('GET /health: 200', 200, (await http('GET', '/health')).status);
  const jw = await http('GET', '/.well-known/jwks.json');
  check('GET /.well-known/jwks.json: keys with kid and kty, no private parts', [200, true, true],
    [jw.status, Array.isArray(jw.body?.keys) && jw.body.keys.length > 0,
      (jw.body?.keys ?? []).every((k) => k.kid && k.kty && !('d' in k) && !('k' in k))]);
  const { supabase: gc, session } = await signIn(makeUser('claims'));
  const alg = jwtPart(session.access_token, 0).alg;
  if (alg === 'ES256' || alg === 'RS256') {
    const mark = requests.length;
    const { data: cl, error: cle } = await gc.auth.getClaims();
    check('getClaims() verifies the access token locally with the JWKS (no GET /user)',
      [null, jwtPart(session.access_token, 1).sub, false],
      [E(cle), cl?.claims?.sub, since(mark).some((r) => r.path === '/auth/v1/user')]);
  } else {
    console.log(`skip getClaims(): the signing key is ${alg}, which auth-js does not verify locally`);
  }

  // ---- Disabled features: GoTrue's answers for features that are off. The expected values
  // ---- are here, in one place, to adjust as the gateway settles them.
  const DISABLED = {
    oauthAuthorize: [400, 'validation_failed'], // GET /authorize?provider=github (no provider configured)
  };
  const oauth = await http('GET', '/authorize?provider=github', { redirect: 'manual' });
  check('disabled: GET /authorize?provider=github', DISABLED.oauthAuthorize, [oauth.status, oauth.body?.code]);
  // (Anonymous sign-ins with the provider off cannot be toggled while the gateway runs: not tested.)
}
