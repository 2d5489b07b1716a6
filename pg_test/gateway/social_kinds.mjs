// Sign-in through GitHub, Feishu and WeChat as supabase-js starts it
// (signInWithOAuth({ provider })), against local servers that follow each one's API
// document (providers_local.mjs), and a provider that answers slowly or with garbage.
import { check, sql } from '../harness.mjs';
import { AUTH, SITE_URL, STAMP, client, fragmentOf, lit } from './common.mjs';
import { browse } from './oidc_local.mjs';
import { startProviders } from './providers_local.mjs';

const PUBLIC_CALLBACK = () => `${sql(`select current_setting('auth_ext.api_external_url')`)}/callback`;

// signInWithOAuth as a browser runs it, up to where the gateway sends it back to the app.
export async function signInThrough(provider, { supabase = client(), gatewayBase } = {}) {
  const callback = PUBLIC_CALLBACK();
  const { data } = await supabase.auth.signInWithOAuth({ provider, options: { redirectTo: SITE_URL, skipBrowserRedirect: true } });
  const start = await fetch(data.url, { redirect: 'manual' });
  const landed = await browse(start.headers.get('location'), callback);
  const done = await fetch(`${gatewayBase}/callback${landed.slice(callback.length)}`, { redirect: 'manual' });
  return done.headers.get('location') ?? '';
}

export async function sessionUser(location) {
  const fragment = fragmentOf(location);
  const supabase = client();
  const { error } = await supabase.auth.setSession({ access_token: fragment.get('access_token') ?? '', refresh_token: fragment.get('refresh_token') ?? '' });
  if (error) return { error: new URLSearchParams(location.split('?')[1]?.split('#')[0] ?? '').get('error_description') ?? error.message };
  return (await supabase.auth.getUser()).data;
}

export async function socialKinds() {
  const local = await startProviders();
  const configure = (kind, extra = {}) => sql(`select auth.admin_create_oauth_provider(${lit(JSON.stringify({
    ...local.config[kind], client_id: local.clientId, client_secret: local.clientSecret, ...extra }))}) is not null`);
  try {
    configure('github');
    configure('feishu');
    configure('wechat');

    // GitHub: the primary verified email from /user/emails, the numeric id as provider_id.
    const ghEmail = `tier-${STAMP}-gh@example.com`;
    local.next('github', { login: `octo${STAMP}`, id: 583231, name: 'The Octocat', avatar_url: 'https://avatars.example/1',
      email: null, emails: [{ email: `old-${ghEmail}`, verified: false, primary: false }, { email: ghEmail, verified: true, primary: true }] });
    const gh = await sessionUser(await signInThrough('github', { gatewayBase: AUTH }));
    const ghIdentity = gh.user?.identities?.find((i) => i.provider === 'github');
    check('GitHub: the primary verified email, confirmed; provider_id the numeric id; user_name the login',
      [ghEmail, true, '583231', `octo${STAMP}`],
      [gh.user?.email, !!gh.user?.email_confirmed_at, ghIdentity?.identity_data?.provider_id, gh.user?.user_metadata?.user_name]);

    // Feishu: v2 token endpoint with a JSON body, user_info; no email is made up; open_id
    // is the identity, and the rest of the profile (tenant_key) is kept.
    const openId = `ou_kinds_${STAMP}`;
    local.next('feishu', { name: '张三', en_name: 'San Zhang', avatar_url: 'https://feishu.example/a.png', open_id: openId,
      union_id: `on_kinds_${STAMP}`, tenant_key: 't_2ed2', email: 'zhang@example.cn' });
    const fs = await sessionUser(await signInThrough('feishu', { gatewayBase: AUTH }));
    const fsIdentity = fs.user?.identities?.find((i) => i.provider === 'feishu');
    check('Feishu: open_id is the identity, no email made up (Feishu\'s is not verified), the profile kept',
      [openId, null, '张三', 't_2ed2'],
      [fsIdentity?.identity_data?.provider_id, fs.user?.email || null, fs.user?.user_metadata?.name, fs.user?.user_metadata?.custom_claims?.tenant_key]);
    const again = await sessionUser(await signInThrough('feishu', { gatewayBase: AUTH }));
    check('Feishu: the same account signs in to the same user', fs.user?.id ?? 'none', again.user?.id);
    sql(`select auth.admin_update_oauth_provider('feishu', '{"id_claim": "union_id"}') is not null`);
    local.next('feishu', { name: '李四', open_id: `ou_b_${STAMP}`, union_id: `on_b_${STAMP}`, tenant_key: 't_2ed2' });
    const byUnion = await sessionUser(await signInThrough('feishu', { gatewayBase: AUTH }));
    check('Feishu with id_claim union_id: union_id is the identity', `on_b_${STAMP}`,
      byUnion.user?.identities?.find((i) => i.provider === 'feishu')?.identity_data?.provider_id);

    // WeChat: unionid when the app has one, else openid; no email.
    local.next('wechat', { openid: `o6_${STAMP}`, unionid: `oU_${STAMP}`, nickname: '微信用户', headimgurl: 'https://wx.example/h.png' });
    const wx = await sessionUser(await signInThrough('wechat', { gatewayBase: AUTH }));
    local.next('wechat', { openid: `o6_solo_${STAMP}`, nickname: '无 unionid' });
    const wxSolo = await sessionUser(await signInThrough('wechat', { gatewayBase: AUTH }));
    const wxId = (u) => u.user?.identities?.find((i) => i.provider === 'wechat')?.identity_data?.provider_id;
    check('WeChat: unionid is the identity when given, else openid; the nickname is the name; no email',
      [`oU_${STAMP}`, `o6_solo_${STAMP}`, '微信用户', null], [wxId(wx), wxId(wxSolo), wx.user?.user_metadata?.name, wx.user?.email || null]);

    // A provider that answers too slowly, or with a page: a clear error back at the app,
    // no hung request.
    local.state.behaviour = 'slow';
    const started = Date.now();
    const slow = await signInThrough('github', { gatewayBase: AUTH });
    const waited = Date.now() - started;
    local.state.behaviour = 'garbage';
    const garbage = await signInThrough('github', { gatewayBase: AUTH });
    local.state.behaviour = 'normal';
    const described = (location) => new URL(location).searchParams.get('error_description') ?? '';
    check('a provider too slow: server_error after the 10 s deadline; garbage: a clear error',
      ['server_error', true, true, true],
      [new URL(slow).searchParams.get('error'), /did not answer within 10 s/.test(described(slow)), waited < 20000,
        /answered with neither JSON nor a form|answered 502/.test(described(garbage))]);

    // The client secret: only the gateway gets it back, never service_role or authenticated.
    const read = (role) => {
      try {
        return sql(`set role ${role}; select count(client_secret) from auth.oauth_providers`);
      } catch (e) {
        return String(e.stderr);
      }
    };
    const secretReads = ['service_role', 'authenticated'].map(read);
    check('the client secret cannot be read by service_role or authenticated', [true, true],
      secretReads.map((r) => /permission denied/.test(String(r))));
  } finally {
    sql(`delete from auth.oauth_providers where provider in ('github', 'feishu', 'wechat')`);
    await local.close();
  }
}
