// signInWithIdToken (POST /token?grant_type=id_token) against a real OpenID provider
// (oidc_local.mjs, npm oidc-provider): a native app's genuine token, then tokens an
// attacker forges or borrows. The extension checks every one, against the provider's
// keys the gateway fetched from its JWKS.
import crypto from 'node:crypto';
import { check, sql } from '../harness.mjs';
import { STAMP, address, client, http, jwtPart, lit } from './common.mjs';
import { NATIVE_CLIENT, jws, nativeSignIn, rs256, startOidc } from './oidc_local.mjs';

const PROVIDER = 'custom:native';
const refusal = (res) => [res.status, res.body?.error ?? null, res.body?.error_description ?? res.body?.message ?? null];
const grant = (body) => http('POST', '/token?grant_type=id_token', { body: { provider: PROVIDER, ...body } });

export async function idTokenSignIn() {
  const op = await startOidc({ callback: 'http://127.0.0.1/unused' });
  try {
    // The web client is the gateway's; the native app's id is accepted as an audience.
    sql(`select auth.admin_create_oauth_provider(${lit(JSON.stringify({
      provider: PROVIDER, kind: 'oidc', issuer: op.issuer, client_id: op.clientId, client_ids: [NATIVE_CLIENT] }))})`);
    const email = address('id-token');
    const sub = `nina-${STAMP}`;
    op.account(sub, { email, email_verified: true, name: 'Nina Native' });
    op.signInAs(sub);
    const raw = crypto.randomBytes(16).toString('hex');
    const tokens = await nativeSignIn(op, raw);

    const supabase = client();
    const { data, error } = await supabase.auth.signInWithIdToken({ provider: PROVIDER, token: tokens.id_token, access_token: tokens.access_token, nonce: raw });
    check('signInWithIdToken: a session for the provider\'s user, email confirmed, keys fetched once',
      [null, email, true, PROVIDER, 1],
      [error?.message ?? null, data.user?.email, !!data.user?.email_confirmed_at, data.user?.app_metadata?.provider, op.requests.jwks]);
    const again = await client().auth.signInWithIdToken({ provider: PROVIDER, token: tokens.id_token, access_token: tokens.access_token, nonce: raw });
    check('the same identity signs in to the same user, with the keys kept', [data.user?.id, 1], [again.data.user?.id, op.requests.jwks]);

    // The attacker's side. Nonces: another raw nonce, or none for a token that has one.
    check('a wrong raw nonce: 400 invalid nonce, Nonces mismatch', [400, 'invalid nonce', 'Nonces mismatch'],
      refusal(await grant({ id_token: tokens.id_token, nonce: 'not-the-nonce' })));
    check('no nonce for a token that carries one', [400, 'invalid request', 'Passed nonce and nonce in id_token should either both exist or not.'],
      refusal(await grant({ id_token: tokens.id_token })));

    // Tokens forged with the provider's own key (as a leaked or borrowed token would be):
    // another audience, another issuer, expired.
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: op.issuer, sub, aud: NATIVE_CLIENT, iat: now, exp: now + 300, email, email_verified: true };
    const forged = (changes) => rs256({ ...claims, ...changes }, op.privateKey, op.kid);
    check('an ID token for another client: Unacceptable audience', [400, 'invalid request', 'Unacceptable audience in id_token: [someone-else]'],
      refusal(await grant({ id_token: forged({ aud: 'someone-else' }) })));
    check('another issuer, or expired: Bad ID token', [[400, 'invalid request', 'Bad ID token'], [400, 'invalid request', 'Bad ID token']],
      [refusal(await grant({ id_token: forged({ iss: 'https://accounts.example.com' }) })), refusal(await grant({ id_token: forged({ exp: now - 5 }) }))]);
    const atHash = crypto.createHash('sha256').update('the-access-token').digest().subarray(0, 16).toString('base64url');
    const withHash = forged({ at_hash: atHash });
    const right = await grant({ id_token: withHash, access_token: 'the-access-token' });
    check('at_hash: the named access token passes, another does not', [200, 'Bad ID token'],
      [right.status, (await grant({ id_token: withHash, access_token: 'the-access-token!' })).body?.error_description]);

    // Tokens no provider signed: alg none, HS256 with the public key as the secret, a key
    // of another provider (an unknown kid refetches the keys at most once a minute), and
    // a signature over other claims.
    const publicPem = op.publicKey.export({ type: 'spki', format: 'pem' });
    const none = jws({ alg: 'none', typ: 'JWT' }, claims, () => Buffer.alloc(0));
    const hs256 = jws({ alg: 'HS256', typ: 'JWT', kid: op.kid }, claims, (m) => crypto.createHmac('sha256', publicPem).update(m).digest());
    const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const fetchesBefore = op.requests.jwks;
    const strangers = [];
    for (let i = 0; i < 5; i++) strangers.push(refusal(await grant({ id_token: rs256(claims, other, `other-provider-${i}`) })));
    const [h] = forged({}).split('.');
    const swapped = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'victim' })).toString('base64url')}.${forged({}).split('.')[2]}`;
    check('alg none, HS256 keyed with the public key, another signature: Bad ID token',
      [[400, 'invalid request', 'Bad ID token'], [400, 'invalid request', 'Bad ID token'], [400, 'invalid request', 'Bad ID token']],
      [refusal(await grant({ id_token: none })), refusal(await grant({ id_token: hs256 })), refusal(await grant({ id_token: swapped }))]);
    check('five keys of another provider: refused, and the keys were not refetched for each', [true, true],
      [strangers.every((r) => r[2] === 'Bad ID token'), op.requests.jwks - fetchesBefore <= 1]);

    // An ID token names only users of its own provider's identities: the victim's email
    // at an unverifying provider is not taken, and the signed-in user stays the token's.
    const victim = address('id-token-victim');
    const squat = await grant({ id_token: forged({ sub: `mallory-${STAMP}`, email: victim, email_verified: false }) });
    check('an unverified email in an ID token is not put on the user', [200, '', '0'],
      [squat.status, sql(`select coalesce(email, '') from auth.users where id = ${lit(jwtPart(squat.body.access_token, 1).sub)}`),
        sql(`select count(*) from auth.users where email = ${lit(victim)}`)]);

    // GoTrue's answers for what cannot be used.
    const unknown = await http('POST', '/token?grant_type=id_token', { body: { provider: 'custom:nobody', id_token: 'x' } });
    check('no id_token; an unknown custom provider',
      [[400, 'invalid request', 'id_token required'], [400, 'validation_failed', 'Custom provider "custom:nobody" not found']],
      [refusal(await grant({})), [unknown.status, unknown.body?.code, unknown.body?.message]]);
  } finally {
    sql(`delete from auth.oauth_providers where provider = ${lit(PROVIDER)}`);
    await op.close();
  }
}
