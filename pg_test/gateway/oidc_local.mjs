// A real OpenID provider (npm oidc-provider, OpenID Certified) on 127.0.0.1, for the
// social sign-in tests: one client (the gateway), accounts the tests make, and
// interactions that sign in the account a test names next and grant what is asked.
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

// A native app's client (signInWithIdToken): public, PKCE, a loopback redirect it never
// serves (the test takes the code from the redirect itself).
export const NATIVE_CLIENT = 'native-app';
export const NATIVE_REDIRECT = 'http://127.0.0.1/native-callback';

export async function startOidc({ callback, clientId = 'auth-ext-tier', clientSecret = 'tier-client-secret' }) {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const accounts = new Map();
  let next = null;
  // The provider's signing key, ours to know, so that tests can also forge tokens with it.
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `tier-rsa-${crypto.randomBytes(4).toString('hex')}`;
  const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const requests = { jwks: 0 };
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId, client_secret: clientSecret, redirect_uris: [callback],
      token_endpoint_auth_method: 'client_secret_post', grant_types: ['authorization_code'], response_types: ['code'],
    }, {
      client_id: NATIVE_CLIENT, application_type: 'native', redirect_uris: [NATIVE_REDIRECT],
      token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'],
    }],
    jwks: { keys: [signingJwk] },
    // As Google and Apple: the ID token itself carries the email (signInWithIdToken reads only it).
    conformIdTokenClaims: false,
    findAccount: async (ctx, id) => (accounts.has(id) ? { accountId: id, claims: async () => ({ sub: id, ...accounts.get(id) }) } : undefined),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'picture'] },
    scopes: ['openid', 'email', 'profile'],
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    cookies: { keys: ['tier-cookie-key'] },
  });
  const serve = provider.callback();
  server.on('request', async (req, res) => {
    if (req.url.startsWith('/jwks')) requests.jwks += 1;
    if (!req.url.startsWith('/interaction/')) return serve(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'login') {
        await provider.interactionFinished(req, res, { login: { accountId: next } }, { mergeWithLastSubmission: false });
        return;
      }
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      const missing = details.prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    } catch (e) {
      res.statusCode = 500;
      res.end(String(e));
    }
  });
  return {
    issuer, clientId, clientSecret, kid, privateKey, publicKey, requests,
    account(id, claims) { accounts.set(id, claims); },
    signInAs(id) { next = id; },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}

// Follows redirects as a browser does (cookies kept) until one leads to `stop`.
export async function browse(url, stop) {
  const jar = new Map();
  for (let hop = 0; hop < 20; hop++) {
    if (url.startsWith(stop)) return url;
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
    for (const set of res.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const location = res.headers.get('location');
    if (!location) throw new Error(`no redirect from ${url}: ${res.status} ${(await res.text()).slice(0, 200)}`);
    url = new URL(location, url).toString();
  }
  throw new Error('too many redirects');
}

// A compact JWS of `claims` under `header`, signed by `sign(message)` (bytes).
export function jws(header, claims, sign) {
  const part = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const message = `${part(header)}.${part(claims)}`;
  return `${message}.${Buffer.from(sign(message)).toString('base64url')}`;
}

// An RS256 token signed with `key` under `kid`.
export function rs256(claims, key, kid) {
  return jws({ alg: 'RS256', typ: 'JWT', kid }, claims, (m) => crypto.sign('sha256', Buffer.from(m), key));
}

// What a native app holds after signing in at the provider (code flow with PKCE, as the
// platform SDKs run it): the ID token (its nonce the SHA-256 of `rawNonce`) and the access token.
export async function nativeSignIn(op, rawNonce) {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const nonce = crypto.createHash('sha256').update(rawNonce).digest('hex');
  const start = `${op.issuer}/auth?${new URLSearchParams({
    client_id: NATIVE_CLIENT, redirect_uri: NATIVE_REDIRECT, response_type: 'code', scope: 'openid email profile',
    nonce, code_challenge: challenge, code_challenge_method: 'S256' })}`;
  const landed = new URL(await browse(start, NATIVE_REDIRECT));
  const res = await fetch(`${op.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: landed.searchParams.get('code'),
      redirect_uri: NATIVE_REDIRECT, client_id: NATIVE_CLIENT, code_verifier: verifier }),
  });
  const tokens = await res.json();
  if (!tokens.id_token) throw new Error(`the provider gave no ID token: ${JSON.stringify(tokens)}`);
  return tokens;
}
