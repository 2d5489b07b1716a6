// GoTrue's answers, one row per request: the status, code and message Supabase Auth
// (supabase/auth) sends, with the file and line they come from. Each row is sent raw
// (fetch, the 2024-01-01 error shape that supabase-js asks for) and must match exactly.
import { check, sql } from '../harness.mjs';
import { ANON_KEY, SERVICE_KEY, STAMP, address, client, http, makeUser, outbox, signIn } from './common.mjs';

async function send(method, path, { apikey = ANON_KEY, bearer = apikey, body } = {}) {
  const answer = await http(method, path, { key: apikey, token: bearer, body });
  return { ...answer, errorCode: answer.headers.get('x-sb-error-code') };
}

export async function gotrueAnswers() {
  // What the rows need: a signed-out session, a deleted user's session, an anonymous one.
  const gone = makeUser('gotrue-gone');
  const { session: goneSession } = await signIn(gone);
  sql(`select auth.admin_delete_user('${gone.id}')`);
  const out = makeUser('gotrue-out');
  const { supabase: outClient, session: outSession } = await signIn(out);
  await outClient.auth.signOut();
  const { data: guest } = await client().auth.signInAnonymously();
  const coded = address('gotrue-code');
  await client().auth.signInWithOtp({ email: coded });
  const wrong = String((Number(outbox('magiclink', coded, 'email_otp')) + 1) % 1000000).padStart(6, '0');
  const user = makeUser('gotrue-user');
  const { session: userSession } = await signIn(user);

  const rows = [
    // [what, request, [status, code, message]]   source in supabase/auth
    ['wrong password', () => send('POST', '/token?grant_type=password', { body: { email: user.email, password: 'not it at all' } }),
      [400, 'invalid_credentials', 'Invalid login credentials']], // internal/api/token.go:177
    ['unknown refresh token', () => send('POST', '/token?grant_type=refresh_token', { body: { refresh_token: 'abcdefghijkl' } }),
      [400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found']], // internal/tokens/service.go:210
    ['empty refresh token', () => send('POST', '/token?grant_type=refresh_token', { body: { refresh_token: '' } }),
      [400, 'validation_failed', 'Refresh token is not valid']], // internal/api/token_refresh.go:20-38
    ['unknown grant type', () => send('POST', '/token?grant_type=magic', { body: {} }),
      [400, 'invalid_credentials', 'unsupported_grant_type']], // internal/api/token.go:59-60
    ['web3 sign-in', () => send('POST', '/token?grant_type=web3', { body: {} }),
      [422, 'web3_provider_disabled', 'Web3 provider is disabled']], // internal/api/web3.go:28-29
    ['ID token of a provider not set up', () => send('POST', '/token?grant_type=id_token', { body: { provider: 'google', id_token: 'x' } }),
      [400, 'provider_disabled', 'Provider (issuer "https://accounts.google.com") is not enabled']], // internal/api/token_oidc.go:184-185
    ['sign-up, short password', () => send('POST', '/signup', { body: { email: address('gotrue-short'), password: 'abc' } }),
      [422, 'weak_password', 'Password should be at least 6 characters.']], // internal/api/password.go:41-74
    ['sign-up, 73-byte password', () => send('POST', '/signup', { body: { email: address('gotrue-long'), password: 'x'.repeat(73) } }),
      [400, 'validation_failed', 'Password cannot be longer than 72 characters']], // internal/api/password.go:31-36
    ['sign-up, no password', () => send('POST', '/signup', { body: { email: address('gotrue-nopass') } }),
      [400, 'validation_failed', 'Signup requires a valid password']], // internal/api/signup.go:35-36
    ['sign-up, email and phone', () => send('POST', '/signup', { body: { email: address('gotrue-both'), phone: '+4915112345678', password: 'long enough' } }),
      [400, 'validation_failed', 'Only an email address or phone number should be provided on signup.']], // internal/api/signup.go:42-43
    ['sign-up, malformed email', () => send('POST', '/signup', { body: { email: 'xx:;x@x.x', password: 'password123' } }),
      [400, 'validation_failed', 'Unable to validate email address: invalid format']], // internal/api/mail.go:716-717
    ['magic link for nobody, create_user false', () => send('POST', '/otp', { body: { email: address('gotrue-nobody'), create_user: false } }),
      [422, 'otp_disabled', 'Signups not allowed for otp']], // internal/api/otp.go:82-83
    ['wrong code', () => send('POST', '/verify', { body: { email: coded, token: wrong, type: 'email' } }),
      [403, 'otp_expired', 'Token has expired or is invalid']], // internal/api/verify.go:778
    ['unknown link', () => send('POST', '/verify', { body: { token_hash: `nothing${STAMP}`, type: 'magiclink' } }),
      [403, 'otp_expired', 'Email link is invalid or has expired']], // internal/api/verify.go:663-664
    ['code for a malformed phone', () => send('POST', '/verify', { body: { phone: '12ab', token: '123456', type: 'sms' } }),
      [400, 'validation_failed', 'Invalid phone number format (E.164 required)']], // internal/api/verify.go:68-71
    ['verify without a type', () => send('POST', '/verify', { body: { email: coded, token: '123456' } }),
      [400, 'validation_failed', 'Verify requires a verification type']], // internal/api/verify.go:53-54
    ['verify without a token', () => send('POST', '/verify', { body: { email: coded, type: 'email' } }),
      [400, 'validation_failed', 'Verify requires either a token or a token hash']], // internal/api/verify.go:64-65
    ['verify with a token hash and an address', () => send('POST', '/verify', { body: { token_hash: 'x', email: coded, type: 'magiclink' } }),
      [400, 'validation_failed', 'Only the token_hash and type should be provided']], // internal/api/verify.go:83-85
    ['a code with no address', () => send('POST', '/otp', { body: {} }),
      [400, 'validation_failed', 'One of email or phone must be set']], // internal/api/otp.go:94
    ['password sign-in with no address', () => send('POST', '/token?grant_type=password', { body: { password: 'whatever it is' } }),
      [400, 'validation_failed', 'missing email or phone']], // internal/api/token.go:106
    ['password sign-in with both addresses', () => send('POST', '/token?grant_type=password', { body: { email: user.email, phone: '+4915112345678', password: 'x' } }),
      [400, 'validation_failed', 'Only an email address or phone number should be provided on login.']], // internal/api/token.go:82-83
    ['code for a malformed email', () => send('POST', '/verify', { body: { email: 'xx:;x@x.x', token: '123456', type: 'email' } }),
      [422, 'validation_failed', 'Invalid email format']], // internal/api/verify.go:74-77
    ['magic link for a malformed address, create_user false', () => send('POST', '/otp', { body: { email: 'xx:;x@x.x', create_user: false } }),
      [422, 'otp_disabled', 'Signups not allowed for otp']], // internal/api/otp.go:82-83, 211-237
    ['GET /user without a bearer', () => send('GET', '/user', { bearer: null }),
      [401, 'no_authorization', 'This endpoint requires a valid Bearer token']], // internal/api/auth.go:74-77
    ['GET /user with the anon key as bearer', () => send('GET', '/user'),
      [403, 'bad_jwt', 'invalid claim: missing sub claim']], // internal/api/auth.go:126-127
    ['logout with a signed-out session', () => send('POST', '/logout', { bearer: outSession.access_token }),
      [403, 'session_not_found', 'Session from session_id claim in JWT does not exist']], // internal/api/auth.go:152-155
    ['logout with a deleted user\'s session', () => send('POST', '/logout', { bearer: goneSession.access_token }),
      [403, 'user_not_found', 'User from sub claim in JWT does not exist']], // internal/api/auth.go:136-139
    ['reauthenticate as an anonymous user', () => send('GET', '/reauthenticate', { bearer: guest.session.access_token }),
      [400, 'validation_failed', 'Reauthentication requires the user to have an email or a phone number']], // internal/api/reauthenticate.go:25-26
    ['factors without a bearer', () => send('POST', '/factors', { bearer: null, body: { factor_type: 'totp' } }),
      [401, 'no_authorization', 'This endpoint requires a valid Bearer token']], // internal/api/api.go:299-312
    ['linking a provider that is not configured', () => send('GET', '/user/identities/authorize?provider=github', { bearer: userSession.access_token }),
      [400, 'validation_failed', 'Unsupported provider: provider is not enabled']], // internal/api/external.go:48-50, conf/configuration.go:1337-1340
    ['sign-in through a provider nobody knows', () => send('GET', '/authorize?provider=nonesuch', { apikey: null }),
      [400, 'validation_failed', 'Unsupported provider: Provider nonesuch could not be found']], // internal/api/external.go:698
    ['admin API with a user\'s token', () => send('GET', '/admin/users', { bearer: userSession.access_token }),
      [403, 'not_admin', 'User not allowed']], // internal/api/auth.go:62-70
    ['admin create, malformed email', () => send('POST', '/admin/users', { apikey: SERVICE_KEY, body: { email: 'xx:;x@x.x', password: 'password123' } }),
      [400, 'validation_failed', 'Unable to validate email address: invalid format']], // internal/api/admin.go:388-572
    ['admin list, bad sort field', () => send('GET', '/admin/users?sort=email', { apikey: SERVICE_KEY }),
      [400, 'validation_failed', "Bad Sort Parameters: bad field for sort 'email'"]], // internal/api/admin.go:123-125, sorting.go:21
    ['admin list, bad sort direction', () => send('GET', '/admin/users?sort=created_at%20up', { apikey: SERVICE_KEY }),
      [400, 'validation_failed', "Bad Sort Parameters: bad direction for sort 'up', only 'asc' and 'desc' allowed"]], // sorting.go:32
    ['admin list, bad page', () => send('GET', '/admin/users?page=x', { apikey: SERVICE_KEY }),
      [400, 'validation_failed', 'Bad Pagination Parameters: strconv.ParseUint: parsing "x": invalid syntax']], // admin.go:134-136, pagination.go:60
    ['admin list, bad sort with a user\'s token: not an admin first', () => send('GET', '/admin/users?sort=email', { bearer: userSession.access_token }),
      [403, 'not_admin', 'User not allowed']], // middleware requireAdmin runs before adminUsers
    ['invite, malformed email', () => send('POST', '/invite', { apikey: SERVICE_KEY, body: { email: 'xx:;x@x.x' } }),
      [400, 'validation_failed', 'Unable to validate email address: invalid format']], // internal/api/invite.go
  ];
  for (const [what, request, expected] of rows) {
    const answer = await request();
    check(`GoTrue: ${what}: ${expected.join(' ')}`, [...expected, expected[1]],
      [answer.status, answer.body?.code, answer.body?.message, answer.errorCode]);
  }

  // A bad bearer: GoTrue's message, with why after it (internal/api/auth.go:111-112).
  const bad = await send('POST', '/logout', { bearer: 'this-is-a-bad-token' });
  check('GoTrue: logout with a bad bearer: 403 bad_jwt "invalid JWT: unable to parse or verify signature, ..."',
    [403, 'bad_jwt', true], [bad.status, bad.body?.code, String(bad.body?.message).startsWith('invalid JWT: unable to parse or verify signature, ')]);
  // A weak password's reasons, which auth-js turns into AuthWeakPasswordError.reasons.
  const weak = await send('POST', '/signup', { body: { email: address('gotrue-weak'), password: 'abc' } });
  check('GoTrue: a weak password carries weak_password.reasons', ['length'], weak.body?.weak_password?.reasons);

  // The password grant always carries weak_password: null for a strong password
  // (token.go:206, a typed nil in tokens/service.go:114's interface{}).
  const granted = await send('POST', '/token?grant_type=password', { body: { email: user.email, password: user.password } });
  check('GoTrue: the password grant answers weak_password: null', [200, true, null],
    [granted.status, Object.hasOwn(granted.body ?? {}, 'weak_password'), granted.body?.weak_password]);

  // /settings as GoTrue's settings.go writes it.
  const settings = await send('GET', '/settings');
  check('GoTrue: /settings reports the providers, sign-ups and autoconfirm',
    [200, true, true, true, false, false, false, '', false],
    [settings.status, settings.body.external?.email, settings.body.external?.phone, settings.body.external?.anonymous_users,
      settings.body.external?.google, settings.body.disable_signup, settings.body.mailer_autoconfirm, settings.body.sms_provider,
      settings.body.saml_enabled]);
}
