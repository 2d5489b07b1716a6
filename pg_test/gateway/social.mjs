// Sign-in through a provider's pages, against a real OpenID provider (oidc_local.mjs,
// npm oidc-provider) on 127.0.0.1: the implicit and PKCE flows as supabase-js runs them,
// and the attacker's side of the callback.
import { check, sql } from '../harness.mjs';
import { AUTH, SITE_URL, STAMP, address, client, fragmentOf, jwtPart, lit } from './common.mjs';
import { browse, startOidc } from './oidc_local.mjs';

// Where providers send browsers back: auth_ext.api_external_url's /callback, which the
// tier's browser reaches at the gateway's own address.
const PUBLIC_CALLBACK = `${sql(`select current_setting('auth_ext.api_external_url')`)}/callback`;
const toGateway = (url) => `${AUTH}/callback${url.slice(PUBLIC_CALLBACK.length)}`;

async function callback(url) {
  const res = await fetch(toGateway(url), { redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location') ?? '' };
}

export async function socialSignIn() {
  const op = await startOidc({ callback: PUBLIC_CALLBACK });
  try {
    sql(`select auth.admin_create_oauth_provider(${lit(JSON.stringify({
      provider: 'custom:local', kind: 'oidc', issuer: op.issuer, client_id: op.clientId,
      client_secret: op.clientSecret, scopes: 'email profile' }))})`);
    const email = address('oidc');
    const sub = `alice-${STAMP}`;
    op.account(sub, { email, email_verified: true, name: 'Alice Local' });
    op.signInAs(sub);

    // Implicit: the session in the fragment.
    const start = await fetch(`${AUTH}/authorize?provider=custom:local&redirect_to=${encodeURIComponent(SITE_URL)}`, { redirect: 'manual' });
    const toProvider = start.headers.get('location') ?? '';
    check('GET /authorize: 302 to the provider, with state, nonce and PKCE', [302, true, true, true],
      [start.status, toProvider.startsWith(`${op.issuer}/auth?`), /[?&]nonce=/.test(toProvider), /code_challenge_method=S256/.test(toProvider)]);
    const landed = await browse(toProvider, PUBLIC_CALLBACK);
    const done = await callback(landed);
    const fragment = fragmentOf(done.location);
    check('GET /callback: 302 to redirect_to with the session in the fragment', [302, true, true],
      [done.status, done.location.startsWith(SITE_URL), !!fragment.get('access_token')]);
    const supabase = client();
    await supabase.auth.setSession({ access_token: fragment.get('access_token'), refresh_token: fragment.get('refresh_token') });
    const { data: me } = await supabase.auth.getUser();
    check('the provider\'s user is a new user, email confirmed, with the provider\'s identity', [email, true, 'custom:local', sub],
      [me.user?.email, !!me.user?.email_confirmed_at, me.user?.app_metadata?.provider, me.user?.identities?.find((i) => i.provider === 'custom:local')?.identity_data?.sub]);

    // The attacker's side: the same callback again (a replayed state and code), a made-up
    // state, none at all, and a callback that names another issuer (RFC 9207).
    const replay = await callback(landed);
    check('a replayed callback: 303 to the site with bad_oauth_state', [303, 'bad_oauth_state'],
      [replay.status, new URL(replay.location).searchParams.get('error_code')]);
    const foreign = await callback(`${PUBLIC_CALLBACK}?code=x&state=${crypto.randomUUID()}`);
    const missing = await callback(`${PUBLIC_CALLBACK}?code=x`);
    check('a made-up or missing state: bad_oauth_state, bad_oauth_callback', ['bad_oauth_state', 'bad_oauth_callback'],
      [new URL(foreign.location).searchParams.get('error_code'), new URL(missing.location).searchParams.get('error_code')]);
    const again = await fetch(`${AUTH}/authorize?provider=custom:local&redirect_to=${encodeURIComponent('https://evil.example/')}`, { redirect: 'manual' });
    const mixedUp = (await browse(again.headers.get('location'), PUBLIC_CALLBACK)).replace(/iss=[^&]*/, `iss=${encodeURIComponent('https://other-issuer.example')}`);
    const mix = await callback(mixedUp);
    check('a callback naming another issuer is refused, and an open redirect goes to the site', [true, 'bad_oauth_callback'],
      [mix.location.startsWith(SITE_URL), new URL(mix.location).searchParams.get('error_code')]);

    // The attacker's side of emails: a provider account that claims someone's address
    // without verifying it holds nothing (the user is made without the email), and a
    // verified one takes the address from an unconfirmed sign-up instead of joining it
    // (whose password nobody proved).
    const claimed = address('oidc-claimed');
    op.account(`mallory-${STAMP}`, { email: claimed, email_verified: false });
    op.signInAs(`mallory-${STAMP}`);
    const claim = await fetch(`${AUTH}/authorize?provider=custom:local`, { redirect: 'manual' });
    const claimDone = await callback(await browse(claim.headers.get('location'), PUBLIC_CALLBACK));
    const claimant = jwtPart(fragmentOf(claimDone.location).get('access_token'), 1).sub;
    check('an unverified provider email is not put on the user', ['', '0'],
      [sql(`select coalesce(email, '') from auth.users where id = ${lit(claimant)}`), sql(`select count(*) from auth.users where email = ${lit(claimed)}`)]);
    // A confirmed user's address, claimed at the provider without verification, links to
    // nothing: the claimant is a user of its own and the owner's identities are unchanged.
    const owned = address('oidc-owned');
    const owner = sql(`select auth.admin_create_user(${lit(JSON.stringify({ email: owned, password: 'the owners passphrase', email_confirm: true }))}::jsonb)->>'id'`);
    op.account(`trudy-${STAMP}`, { email: owned, email_verified: false });
    op.signInAs(`trudy-${STAMP}`);
    const link = await fetch(`${AUTH}/authorize?provider=custom:local`, { redirect: 'manual' });
    const linkDone = await callback(await browse(link.headers.get('location'), PUBLIC_CALLBACK));
    const trudy = jwtPart(fragmentOf(linkDone.location).get('access_token'), 1).sub;
    check('an unverified provider email never links to the confirmed user who owns it', [true, 'email'],
      [trudy !== owner, sql(`select string_agg(provider, ',' order by provider) from auth.user_identities where user_id = ${lit(owner)}`)]);
    const pending = address('oidc-pending');
    const squatter = sql(`select auth.sign_up(${lit(pending)}, 'the squatters passphrase')->>'id'`);
    op.account(`victor-${STAMP}`, { email: pending, email_verified: true });
    op.signInAs(`victor-${STAMP}`);
    const proof = await fetch(`${AUTH}/authorize?provider=custom:local`, { redirect: 'manual' });
    const proofDone = await callback(await browse(proof.headers.get('location'), PUBLIC_CALLBACK));
    const prover = jwtPart(fragmentOf(proofDone.location).get('access_token'), 1).sub;
    check('a verified provider email takes the address from an unconfirmed sign-up, never joins it', [true, pending, true, '0'],
      [prover !== squatter, sql(`select email from auth.users where id = ${lit(prover)}`),
        sql(`select email_confirmed_at is not null from auth.users where id = ${lit(prover)}`) === 't',
        sql(`select count(*) from auth.users where id = ${lit(squatter)} and email is not null`)]);

    // PKCE, as supabase-js and @supabase/ssr run it: ?code= for exchangeCodeForSession.
    op.signInAs(sub);
    const pkceClient = client({ flowType: 'pkce' });
    const { data: started } = await pkceClient.auth.signInWithOAuth({ provider: 'custom:local', options: { redirectTo: SITE_URL, skipBrowserRedirect: true } });
    const pkceStart = await fetch(started.url, { redirect: 'manual' });
    const pkceDone = await callback(await browse(pkceStart.headers.get('location'), PUBLIC_CALLBACK));
    const code = new URL(pkceDone.location).searchParams.get('code');
    const { data: exchanged, error } = await pkceClient.auth.exchangeCodeForSession(code ?? '');
    check('PKCE: ?code= and exchangeCodeForSession give the same user', [true, null, me.user?.id],
      [!!code && !fragmentOf(pkceDone.location).get('access_token'), error, exchanged.session?.user?.id]);
  } finally {
    sql(`delete from auth.oauth_providers where provider = 'custom:local'`);
    await op.close();
  }
}
