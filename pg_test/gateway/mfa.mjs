// Multi-factor authentication through supabase-js' auth.mfa API: enroll, challenge,
// verify, list, unenroll, the assurance level and refresh keeping it, with TOTP codes
// computed by otplib (an independent implementation); then the attacker's side.
import otplib from 'otplib';
import { check, sql } from '../harness.mjs';
import { E, SERVICE_KEY, client, codeOf, http, jwtPart, lit, makeUser, signIn, tokenWorks } from './common.mjs';

const { authenticator } = otplib;
// A code `steps` time steps from now (30 s each), as an authenticator app would show it then.
const codeAt = (secret, steps = 0) => {
  authenticator.options = { epoch: Date.now() + steps * 30000 };
  const code = authenticator.generate(secret);
  authenticator.resetOptions();
  return code;
};

export async function mfa() {
  const user = makeUser('mfa');
  const { supabase, session } = await signIn(user);
  check('before MFA: aal1, nothing more to reach', [null, 'aal1', 'aal1'],
    await supabase.auth.mfa.getAuthenticatorAssuranceLevel().then(({ data, error }) => [E(error), data.currentLevel, data.nextLevel]));

  // Enroll: the secret, the otpauth:// URI and the QR code (auth-js makes it a data: URI).
  const { data: enrolled, error: ee } = await supabase.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'Authenticator' });
  const secret = enrolled?.totp?.secret ?? '';
  check('mfa.enroll: a TOTP factor with its secret, URI and SVG QR code', [null, 'totp', 'Authenticator', true, true, true],
    [E(ee), enrolled?.type, enrolled?.friendly_name, /^[A-Z2-7]{32}$/.test(secret),
      enrolled?.totp?.uri?.startsWith('otpauth://totp/') && enrolled?.totp?.uri?.includes(`secret=${secret}`),
      enrolled?.totp?.qr_code?.startsWith('data:image/svg+xml;utf-8,<?xml')]);
  const { data: listed } = await supabase.auth.mfa.listFactors();
  check('mfa.listFactors: the factor, unverified (not yet among totp)', [1, 'unverified', 0],
    [listed?.all?.length, listed?.all?.[0]?.status, listed?.totp?.length]);

  // Challenge and verify: the same session becomes aal2.
  const { data: challenge } = await supabase.auth.mfa.challenge({ factorId: enrolled.id });
  const { data: verified, error: ve } = await supabase.auth.mfa.verify({ factorId: enrolled.id, challengeId: challenge.id, code: codeAt(secret) });
  const claims = verified?.access_token ? jwtPart(verified.access_token, 1) : {};
  check('mfa.verify: aal2, amr gains totp first, the same session', [null, 'aal2', 'totp', jwtPart(session.access_token, 1).session_id],
    [E(ve), claims.aal, claims.amr?.[0]?.method, claims.session_id]);
  const { data: level } = await supabase.auth.mfa.getAuthenticatorAssuranceLevel();
  check('getAuthenticatorAssuranceLevel: aal2 now and next; totp among the methods', ['aal2', 'aal2', true],
    [level?.currentLevel, level?.nextLevel, level?.currentAuthenticationMethods?.some((m) => m.method === 'totp')]);
  const { data: refreshed } = await supabase.auth.refreshSession();
  check('a refresh keeps aal2', 'aal2', jwtPart(refreshed.session.access_token, 1).aal);
  const { data: after } = await supabase.auth.mfa.listFactors();
  check('mfa.listFactors: now verified, among totp', ['verified', 1], [after?.all?.[0]?.status, after?.totp?.length]);

  // The attacker's side. The same code again (a new challenge), and one from two steps ago.
  const replay = await supabase.auth.mfa.challengeAndVerify({ factorId: enrolled.id, code: codeAt(secret) });
  const stale = await supabase.auth.mfa.challengeAndVerify({ factorId: enrolled.id, code: codeAt(secret, -2) });
  check('a replayed code and one from the window before last: mfa_verification_failed 422',
    [['mfa_verification_failed', 422], ['mfa_verification_failed', 422]], [codeOf(replay.error), codeOf(stale.error)]);

  // Someone with the password only: aal1, told that aal2 is next; no password change, no
  // unenrolling, and challenge with the wrong code fails; the right one passes.
  const { supabase: thief } = await signIn(user);
  const { data: thiefLevel } = await thief.auth.mfa.getAuthenticatorAssuranceLevel();
  check('password alone: aal1, aal2 next', ['aal1', 'aal2'], [thiefLevel?.currentLevel, thiefLevel?.nextLevel]);
  const { error: pw } = await thief.auth.updateUser({ password: 'the thiefs new passphrase' });
  const { error: un } = await thief.auth.mfa.unenroll({ factorId: enrolled.id });
  check('at aal1: no password change (401), no unenrolling a verified factor (422): insufficient_aal',
    [['insufficient_aal', 401], ['insufficient_aal', 422]], [codeOf(pw), codeOf(un)]);

  // Another user's factor is not found, and an anonymous user enrolls nothing.
  const { supabase: other } = await signIn(makeUser('mfa-other'));
  const foreign = await other.auth.mfa.challenge({ factorId: enrolled.id });
  const guest = client();
  await guest.auth.signInAnonymously();
  const anonymous = await guest.auth.mfa.enroll({ factorType: 'totp' });
  check('another user\'s factor: mfa_factor_not_found 404; anonymous: 403 no_authorization',
    [['mfa_factor_not_found', 404], ['no_authorization', 403]], [codeOf(foreign.error), codeOf(anonymous.error)]);

  // The admin's view, and removing the factor at aal2 as the owner.
  const admin = (method, path) => http(method, path, { key: SERVICE_KEY });
  const adminList = await admin('GET', `/admin/users/${user.id}/factors`);
  check('GET /admin/users/{id}/factors: the factor', [200, enrolled.id], [adminList.status, adminList.body?.[0]?.id]);
  const { data: gone, error: ge } = await supabase.auth.mfa.unenroll({ factorId: enrolled.id });
  check('mfa.unenroll at aal2: removed, and the session falls back to aal1', [null, enrolled.id, 'aal1'],
    [E(ge), gone?.id, sql(`select aal from auth.sessions where id = ${lit(claims.session_id)}`)]);

  await phoneFactor();
  await attemptHook();
}

// The MFA verification attempt hook (scripts/gateway.sh sets one): for a user the app
// blocked, an attempt is rejected, and all the user's sessions end.
async function attemptHook() {
  const user = makeUser('mfa-hook');
  const { supabase, session } = await signIn(user);
  const { data: enrolled } = await supabase.auth.mfa.enroll({ factorType: 'totp' });
  const { session: other } = await signIn(user);
  sql(`insert into public.mfa_blocked_users values (${lit(user.id)})`);
  const rejected = await supabase.auth.mfa.challengeAndVerify({ factorId: enrolled.id, code: codeAt(enrolled.totp.secret) });
  check('the attempt hook rejects: 403 mfa_verification_rejected with its message, and every session of the user ends',
    ['mfa_verification_rejected', 403, 'Too many attempts, ask support', false, false],
    [...codeOf(rejected.error), rejected.error?.message, await tokenWorks(session.access_token), await tokenWorks(other.access_token)]);
}

// A phone factor: its code goes out as a text message (the outbox, channel sms); amr gains
// mfa/phone.
async function phoneFactor() {
  const user = makeUser('mfa-phone');
  const { supabase } = await signIn(user);
  const phone = `+1415555${String(Date.now()).slice(-4)}`;
  const { data: enrolled, error: ee } = await supabase.auth.mfa.enroll({ factorType: 'phone', phone, friendlyName: 'Mobile' });
  check('mfa.enroll phone: the factor and its number', [null, 'phone', phone], [E(ee), enrolled?.type, enrolled?.phone]);
  const { data: challenge, error: ce } = await supabase.auth.mfa.challenge({ factorId: enrolled.id });
  const sent = sql(`select payload->>'otp' from auth.outbox where recipient = ${lit(phone.slice(1))} or recipient = ${lit(phone)} order by id desc limit 1`);
  check('mfa.challenge phone: a 6-digit code goes out by SMS', [null, true], [E(ce), /^\d{6}$/.test(sent)]);
  const again = await supabase.auth.mfa.challenge({ factorId: enrolled.id });
  check('a second code within a minute: over_sms_send_rate_limit 429', ['over_sms_send_rate_limit', 429], codeOf(again.error));
  const wrong = await supabase.auth.mfa.verify({ factorId: enrolled.id, challengeId: challenge.id, code: sent === '000000' ? '111111' : '000000' });
  const { data: verified, error: ve } = await supabase.auth.mfa.verify({ factorId: enrolled.id, challengeId: challenge.id, code: sent });
  check('mfa.verify phone: a wrong code fails; the sent one gives aal2 with mfa/phone',
    [['mfa_verification_failed', 422], null, 'aal2', 'mfa/phone'],
    [codeOf(wrong.error), E(ve), verified?.access_token && jwtPart(verified.access_token, 1).aal, verified?.access_token && jwtPart(verified.access_token, 1).amr?.[0]?.method]);
}
