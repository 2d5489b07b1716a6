// The admin API, with the service_role key.
import { check } from '../harness.mjs';
import { E, SERVICE_KEY, SITE_URL, STAMP, address, client, codeOf, http, outbox, outboxCount } from './common.mjs';

export async function adminApi() {
  const admin = client({ key: SERVICE_KEY });
  const ae2 = address('admin');
  const apw = `tier ${STAMP} admin passphrase`;
  const { data: cu, error: cue } = await admin.auth.admin.createUser({
    email: ae2, password: apw, email_confirm: true, user_metadata: { plan: 'free', team: 'a' } });
  check('admin.createUser', [null, ae2, true, 'free'],
    [E(cue), cu.user?.email, cu.user?.email_confirmed_at != null, cu.user?.user_metadata?.plan]);
  const id = cu.user.id;
  let listed = false;
  for (let page = 1; page <= 200 && !listed; page++) {
    const { data: lu, error: lue } = await admin.auth.admin.listUsers({ page, perPage: 50 });
    if (lue) {
      listed = E(lue);
      break;
    }
    if (lu.users.some((x) => x.id === id)) listed = true;
    else if (lu.users.length < 50) break;
  }
  check('admin.listUsers finds the created user', true, listed);
  // GoTrue's filter (email LIKE, full_name ILIKE) and sort (admin.go:123, user.go:835).
  const named = address('filter');
  const { data: nu } = await admin.auth.admin.createUser({ email: named, user_metadata: { full_name: `Ada ${STAMP} Lovelace` } });
  const byEmail = await http('GET', `/admin/users?filter=${encodeURIComponent(named.split('@')[0])}`, { key: SERVICE_KEY });
  const byName = await http('GET', `/admin/users?filter=${encodeURIComponent(`ada ${STAMP} LOVE`)}`, { key: SERVICE_KEY });
  const byCase = await http('GET', `/admin/users?filter=${encodeURIComponent(named.split('@')[0].toUpperCase())}`, { key: SERVICE_KEY });
  check('GET /admin/users?filter= finds by part of the email (case kept) or of full_name (any case)',
    [200, [nu.user?.id], '1', [nu.user?.id], 0],
    [byEmail.status, byEmail.body?.users?.map((u) => u.id), byEmail.headers.get('x-total-count'),
      byName.body?.users?.map((u) => u.id), byCase.body?.users?.length]);
  const oldest = await http('GET', '/admin/users?sort=created_at%20asc&per_page=2', { key: SERVICE_KEY });
  const newest = await http('GET', '/admin/users?per_page=2', { key: SERVICE_KEY });
  const stamps = (page) => page.body?.users?.map((u) => Date.parse(u.created_at)) ?? [];
  check('GET /admin/users lists newest first, and oldest first with sort=created_at asc',
    [200, true, true, true],
    [oldest.status, stamps(oldest)[0] <= stamps(oldest)[1], stamps(newest)[0] >= stamps(newest)[1],
      stamps(oldest)[0] < stamps(newest)[0]]);
  const { data: gb, error: gbe } = await admin.auth.admin.getUserById(id);
  check('admin.getUserById', [null, ae2], [E(gbe), gb.user?.email]);
  const { data: ub, error: ube } = await admin.auth.admin.updateUserById(id, { user_metadata: { plan: 'pro' } });
  check('admin.updateUserById merges user_metadata', [null, 'pro', 'a'],
    [E(ube), ub.user?.user_metadata?.plan, ub.user?.user_metadata?.team]);
  const { error: before } = await client().auth.signInWithPassword({ email: ae2, password: apw });
  const { data: bn, error: bne } = await admin.auth.admin.updateUserById(id, { ban_duration: '24h' });
  check('admin.updateUserById({ban_duration: 24h}) sets banned_until a day ahead', [null, null, true],
    [E(before), E(bne), Date.parse(bn.user?.banned_until) > Date.now() + 23 * 3600 * 1000]);
  const { error: banned } = await client().auth.signInWithPassword({ email: ae2, password: apw });
  check('a banned user cannot sign in: user_banned 400', ['user_banned', 400], codeOf(banned));
  const { error: de } = await admin.auth.admin.deleteUser(id);
  const { error: nf } = await admin.auth.admin.getUserById(id);
  check('admin.deleteUser, then getUserById: user_not_found 404', [null, 'user_not_found', 404], [E(de), ...codeOf(nf)]);
  const gl = address('generated');
  const { data: g, error: ge } = await admin.auth.admin.generateLink({ type: 'magiclink', email: gl });
  // As GoTrue: a magic link for an address nobody has is a sign-up link (mail.go:78-84), to
  // {API_EXTERNAL_URL}/verify (templatemailer.go:500-525).
  check('admin.generateLink(magiclink) for a new address: a signup link to /verify, the user, and nothing is sent',
    [null, 'signup', `https://auth.example.test/auth/v1/verify?token=${g.properties?.hashed_token}&type=signup&redirect_to=${SITE_URL}`, true, true, gl, 0],
    [E(ge), g.properties?.verification_type, g.properties?.action_link,
      /^[\w-]{20,}$/.test(g.properties?.hashed_token ?? ''), /^\d{6}$/.test(g.properties?.email_otp ?? ''),
      g.user?.email, outboxCount('%', gl)]);
  const inv = address('invite');
  const { data: iu, error: iue } = await admin.auth.admin.inviteUserByEmail(inv, { redirectTo: SITE_URL });
  check('admin.inviteUserByEmail: the user, and an invite in the outbox', [null, inv, 1],
    [E(iue), iu.user?.email, outboxCount('invite', inv)]);
  const { data: iv, error: ive } = await client().auth.verifyOtp({ email: inv, token: outbox('invite', inv, 'email_otp'), type: 'invite' });
  check('verifyOtp({type: invite}) signs the invited user in, email confirmed', [null, iu.user?.id, true],
    [E(ive), iv.user?.id, iv.user?.email_confirmed_at != null]);
  const { error: na } = await client().auth.admin.listUsers();
  check('admin.listUsers with the anon key: not_admin 403', ['not_admin', 403], codeOf(na));

  await customProviders();
}

// GoTrue's /admin/custom-providers (custom_oauth_admin.go), over auth.admin_*_oauth_provider.
async function customProviders() {
  const id = `custom:acme-${STAMP}`;
  const admin = (method, path, body) => http(method, `/admin/custom-providers${path}`, { key: SERVICE_KEY, body });
  const made = await admin('POST', '', { provider_type: 'oauth2', identifier: id, name: 'Acme', client_id: 'acme-web',
    client_secret: 'acme-secret', scopes: ['read:user', 'email'], authorization_url: 'https://id.acme.test/authorize',
    token_url: 'https://id.acme.test/token', userinfo_url: 'https://id.acme.test/userinfo' });
  check('POST /admin/custom-providers: 201, GoTrue\'s shape, no secret', [201, id, 'oauth2', 'Acme', ['read:user', 'email'], false],
    [made.status, made.body.identifier, made.body.provider_type, made.body.name, made.body.scopes, JSON.stringify(made.body).includes('acme-secret')]);
  const listed = await admin('GET', '?type=oauth2');
  const oidcOnly = await admin('GET', '?type=oidc');
  check('GET /admin/custom-providers?type=: listed by type', [true, false],
    [listed.body.providers.some((p) => p.identifier === id), oidcOnly.body.providers.some((p) => p.identifier === id)]);
  const changed = await admin('PUT', `/${id}`, { name: 'Acme Corp', enabled: false });
  const got = await admin('GET', `/${id}`);
  check('PUT then GET /admin/custom-providers/{id}: changed', [200, 'Acme Corp', false], [changed.status, got.body.name, got.body.enabled]);
  const refusals = await Promise.all([
    admin('POST', '', { provider_type: 'oauth2', identifier: id, name: 'Again', client_id: 'x', client_secret: 'y',
      authorization_url: 'https://a.test/a', token_url: 'https://a.test/t', userinfo_url: 'https://a.test/u' }),
    admin('POST', '', { provider_type: 'oidc', identifier: 'acme', name: 'N', client_id: 'x', client_secret: 'y', issuer: 'https://a.test' }),
    admin('POST', '', { provider_type: 'oidc', identifier: 'custom:n', name: 'N', client_id: 'x', client_secret: 'y' }),
    admin('POST', '', { provider_type: 'saml', identifier: 'custom:n' }),
    admin('GET', '/custom:nobody'),
    http('GET', '/admin/custom-providers'),
  ]);
  check('custom providers: GoTrue\'s refusals', [
    [400, 'conflict', 'A custom OAuth provider with this identifier already exists'],
    [400, 'validation_failed', "identifier must start with 'custom:' prefix, e.g. 'custom:acme'"],
    [400, 'validation_failed', 'issuer is required for OIDC providers'],
    [400, 'validation_failed', "provider_type must be either 'oauth2' or 'oidc'"],
    [404, 'custom_provider_not_found', 'Custom OAuth provider not found'],
    [403, 'not_admin', 'User not allowed'],
  ], refusals.map((r) => [r.status, r.body.code, r.body.message]));
  const gone = await admin('DELETE', `/${id}`);
  check('DELETE /admin/custom-providers/{id}: 204, then not found', [204, 404], [gone.status, (await admin('GET', `/${id}`)).status]);
}
