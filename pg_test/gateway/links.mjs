import { check, sql } from '../harness.mjs';
import { E, SITE_URL, STORAGE_KEY, address, client, codeOf, fragmentOf, http, jwtPart, memoryStorage, openLink, outbox } from './common.mjs';

// 2. Links: PKCE, the implicit flow, redirect_to, and bad tokens.
export async function links() {
  const verifierKey = `${STORAGE_KEY}-code-verifier`;
  const storage = memoryStorage();
  const pkce = client({ flowType: 'pkce', storage });
  const email = address('pkce');
  const { error: oe } = await pkce.auth.signInWithOtp({ email, options: { emailRedirectTo: SITE_URL } });
  check('pkce: signInWithOtp keeps a code verifier in storage', [null, true], [E(oe), storage.getItem(verifierKey) != null]);
  const res = await openLink(outbox('magiclink', email, 'token_hash'), 'magiclink', SITE_URL);
  const location = res.headers.get('location') ?? '';
  const code = location.startsWith(SITE_URL) ? new URL(location).searchParams.get('code') : null;
  check('pkce: GET /verify redirects (303) to redirect_to with ?code=', [303, true, true],
    [res.status, location.startsWith(SITE_URL), !!code]);
  const verifier = storage.getItem(verifierKey);
  const { data: ex, error: exe } = await pkce.auth.exchangeCodeForSession(code);
  check('pkce: exchangeCodeForSession gives a session of that user, and keeps it', [null, email, email],
    [E(exe), ex.session?.user?.email, (await pkce.auth.getSession()).data.session?.user?.email]);
  storage.setItem(verifierKey, verifier); // exchangeCodeForSession removed it: put it back, as a replay would
  const { error: again } = await pkce.auth.exchangeCodeForSession(code);
  check('pkce: the code works once: flow_state_not_found 404', ['flow_state_not_found', 404], codeOf(again));

  const storage2 = memoryStorage();
  const pkce2 = client({ flowType: 'pkce', storage: storage2 });
  const email2 = address('pkce');
  await pkce2.auth.signInWithOtp({ email: email2, options: { emailRedirectTo: SITE_URL } });
  const res2 = await openLink(outbox('magiclink', email2, 'token_hash'), 'magiclink', SITE_URL);
  const code2 = new URL(res2.headers.get('location')).searchParams.get('code');
  const bad = await http('POST', '/token?grant_type=pkce', { body: { auth_code: code2, code_verifier: 'wrong'.repeat(10) } });
  check('pkce: a wrong code_verifier: 400 bad_code_verifier', [400, 'bad_code_verifier'], [bad.status, bad.body?.code]);
  const { data: ex2, error: ex2e } = await pkce2.auth.exchangeCodeForSession(code2);
  check('pkce: the wrong verifier did not spend the code (GoTrue checks it first)', [null, email2], [E(ex2e), ex2.session?.user?.email]);

  // Implicit flow: the session in the redirect's fragment.
  const ie = address('implicit');
  await client().auth.signInWithOtp({ email: ie });
  const ir = await openLink(outbox('magiclink', ie, 'token_hash'), 'magiclink', SITE_URL);
  const iloc = ir.headers.get('location') ?? '';
  const f = fragmentOf(iloc);
  check('implicit: GET /verify redirects (303) to redirect_to with the session in the fragment', [303, true, true],
    [ir.status, iloc.startsWith(SITE_URL), iloc.includes('#access_token=')]);
  check('implicit: access_token (of the user), refresh_token, expires_in, expires_at, token_type=bearer, type=magiclink',
    [ie, true, '3600', true, 'bearer', 'magiclink'],
    [f.get('access_token') && jwtPart(f.get('access_token'), 1).email, !!f.get('refresh_token'), f.get('expires_in'),
      Number(f.get('expires_at')) > Date.now() / 1000 + 3000, f.get('token_type'), f.get('type')]);
  const { data: fs, error: fse } = await client().auth.setSession({
    access_token: f.get('access_token'), refresh_token: f.get('refresh_token') });
  check('implicit: the fragment\'s tokens make a supabase-js session (as detectSessionInUrl does)', [null, ie],
    [E(fse), fs.user?.email]);

  // redirect_to must be on the allow list; the site URL otherwise.
  const ee = address('redirect');
  await client().auth.signInWithOtp({ email: ee });
  const evil = await openLink(outbox('magiclink', ee, 'token_hash'), 'magiclink', 'https://evil.example');
  const eloc = evil.headers.get('location') ?? '';
  check('verify: redirect_to https://evil.example is refused: the redirect goes to the site URL', [303, true, false],
    [evil.status, eloc.startsWith(SITE_URL), eloc.includes('evil.example')]);
  const broken = await openLink('not-a-token-of-ours', 'magiclink', SITE_URL);
  const bloc = broken.headers.get('location') ?? '';
  const bf = fragmentOf(bloc);
  check('verify: a bad token redirects (303) with error= and error_code= in the fragment', [303, true, true, true],
    [broken.status, bloc.startsWith(SITE_URL), !!bf.get('error'), !!bf.get('error_code')]);
  // A mail client opens the link without any apikey; Supabase's own gateway leaves /verify open.
  const pe = address('mail-client');
  await client().auth.signInWithOtp({ email: pe });
  const plain = await openLink(outbox('magiclink', pe, 'token_hash'), 'magiclink', SITE_URL, { apikey: false });
  const ploc = plain.headers.get('location') ?? '';
  check('verify: a link opened without an apikey (from a mail client) works too', [303, true],
    [plain.status, fragmentOf(ploc).has('access_token')]);
  // A function in public named like a built-in, with argument types that match better
  // than the built-in's (made before the extension refused such names, or by a
  // superuser): the gateway's statements never call it (its connections search
  // pg_catalog alone), so it sees no session.
  sql(`create table public.shadow_loot (v text);
       create function public.jsonb_build_object(k1 text, v1 jsonb, k2 text, v2 text) returns jsonb
       language plpgsql security definer as $f$
       begin insert into public.shadow_loot values (v1::text); return pg_catalog.jsonb_build_object(k1, v1, k2, v2); end $f$;
       grant execute on function public.jsonb_build_object(text, jsonb, text, text) to public;`);
  try {
    const se = address('shadowed');
    await client().auth.signInWithOtp({ email: se });
    const shadowed = await openLink(outbox('magiclink', se, 'token_hash'), 'magiclink', SITE_URL);
    check('verify: a built-in\'s look-alike in public sees no session', [303, true, '0'],
      [shadowed.status, fragmentOf(shadowed.headers.get('location') ?? '').has('access_token'),
        sql('select count(*) from public.shadow_loot')]);
  } finally {
    sql('drop function public.jsonb_build_object(text, jsonb, text, text); drop table public.shadow_loot');
  }
}
