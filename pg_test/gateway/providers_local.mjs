// Local stand-ins for providers we cannot run here, each following its published API
// document (the endpoints, parameters, answers and error shapes below), on 127.0.0.1:
// - GitHub, "Authorizing OAuth apps" (docs.github.com/en/apps/oauth-apps/building-oauth-apps/
//   authorizing-oauth-apps): /login/oauth/authorize, POST /login/oauth/access_token (a refused
//   code is 200 with `error`), GET /user and /user/emails (REST API "Users", "Emails"; a
//   User-Agent is required, a bad token is 401 "Bad credentials").
// - Feishu, "Get user_access_token" (open.feishu.cn/document/authentication-management/
//   access-token/get-user-access-token): /open-apis/authen/v1/authorize, POST
//   /open-apis/authen/v2/oauth/token with a JSON body (`code` 0, or an error code with
//   `error`/`error_description`), GET /open-apis/authen/v1/user_info ({code, msg, data}).
// - WeChat, "Website application WeChat login" (developers.weixin.qq.com/doc/oplatform/
//   Website_App/WeChat_Login/Wechat_Login.html): /connect/qrconnect, GET
//   /sns/oauth2/access_token?appid&secret&code&grant_type (openid and unionid with the
//   token; `errcode`/`errmsg` on failure), GET /sns/userinfo?access_token&openid.
// The user's approval is immediate: each authorize endpoint sends the browser straight
// back with a code for the account the test names next.
import crypto from 'node:crypto';
import http from 'node:http';

const random = (n = 12) => crypto.randomBytes(n).toString('hex');

export async function startProviders({ clientId = 'local-app', clientSecret = 'local-secret' } = {}) {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  const state = { next: {}, codes: new Map(), tokens: new Map(), behaviour: 'normal', served: [] };

  const json = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const readBody = (req) => new Promise((resolve) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => resolve(data));
  });
  // A code for the account the test named next at `kind`, bound to the redirect URI.
  const approve = (res, kind, redirectUri, stateParam) => {
    const account = state.next[kind];
    if (!account) return json(res, 400, { error: 'no account chosen for this test' });
    const code = random();
    state.codes.set(code, { kind, account, redirectUri });
    const back = new URL(redirectUri);
    back.searchParams.set('code', code);
    if (stateParam) back.searchParams.set('state', stateParam);
    res.writeHead(302, { location: back.toString() });
    res.end();
  };
  // The code, once, for `kind` and its redirect URI; a token for its account.
  const redeem = (kind, code, redirectUri) => {
    const found = state.codes.get(code);
    state.codes.delete(code);
    if (!found || found.kind !== kind || (redirectUri !== undefined && found.redirectUri !== redirectUri)) return null;
    const token = `${kind === 'feishu' ? 'u-' : kind === 'github' ? 'gho_' : ''}${random()}`;
    state.tokens.set(token, { kind, account: found.account });
    return { token, account: found.account };
  };
  const bearer = (req, kind) => {
    const token = (req.headers.authorization ?? '').replace(/^(Bearer|token) /i, '');
    const found = state.tokens.get(token);
    return found?.kind === kind ? found.account : null;
  };

  async function handle(req, res) {
    const url = new URL(req.url, base);
    const q = url.searchParams;
    state.served.push(url.pathname);
    // The test's provider that answers too slowly, or with a page instead of JSON.
    if (req.method === 'POST' || url.pathname.includes('/sns/oauth2/access_token')) {
      if (state.behaviour === 'slow') { await new Promise((r) => setTimeout(r, 12000)); }
      if (state.behaviour === 'garbage') { res.writeHead(502, { 'content-type': 'text/html' }); return res.end('<html>Bad Gateway</html>'); }
    }
    switch (url.pathname) {
      // GitHub.
      case '/login/oauth/authorize':
        if (q.get('client_id') !== clientId) return json(res, 404, { error: 'unknown client' });
        return approve(res, 'github', q.get('redirect_uri'), q.get('state'));
      case '/login/oauth/access_token': {
        const form = new URLSearchParams(await readBody(req));
        if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) {
          return json(res, 200, { error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' });
        }
        const got = redeem('github', form.get('code'), form.get('redirect_uri') ?? undefined);
        if (!got) return json(res, 200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
        if (!(req.headers.accept ?? '').includes('application/json')) {
          res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' });
          return res.end(new URLSearchParams({ access_token: got.token, scope: 'user:email', token_type: 'bearer' }).toString());
        }
        return json(res, 200, { access_token: got.token, scope: 'user:email', token_type: 'bearer' });
      }
      case '/api/user':
      case '/api/user/emails': {
        if (!req.headers['user-agent']) return json(res, 403, { message: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header' });
        const account = bearer(req, 'github');
        if (!account) return json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
        if (url.pathname.endsWith('/emails')) return json(res, 200, account.emails ?? []);
        return json(res, 200, { login: account.login, id: account.id, name: account.name, avatar_url: account.avatar_url, email: account.email ?? null });
      }
      // Feishu.
      case '/open-apis/authen/v1/authorize':
        if (q.get('client_id') !== clientId || q.get('response_type') !== 'code') return json(res, 400, { code: 20001, msg: 'invalid request' });
        return approve(res, 'feishu', q.get('redirect_uri'), q.get('state'));
      case '/open-apis/authen/v2/oauth/token': {
        if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
          return json(res, 400, { code: 20001, error: 'invalid_request', error_description: 'The request body must be JSON.' });
        }
        let body;
        try { body = JSON.parse(await readBody(req)); } catch { return json(res, 400, { code: 20001, error: 'invalid_request', error_description: 'malformed JSON' }); }
        if (body.grant_type !== 'authorization_code') return json(res, 400, { code: 20001, error: 'unsupported_grant_type', error_description: 'grant_type' });
        if (body.client_id !== clientId || body.client_secret !== clientSecret) return json(res, 400, { code: 20002, error: 'invalid_client', error_description: 'The client secret is invalid.' });
        const got = redeem('feishu', body.code, body.redirect_uri);
        if (!got) return json(res, 400, { code: 20003, error: 'invalid_grant', error_description: 'The authorization code is invalid or used.' });
        return json(res, 200, { code: 0, access_token: got.token, expires_in: 7200, refresh_token: `ur-${random()}`, refresh_token_expires_in: 604800, token_type: 'Bearer', scope: '' });
      }
      case '/open-apis/authen/v1/user_info': {
        const account = bearer(req, 'feishu');
        if (!account) return json(res, 401, { code: 99991668, msg: 'Invalid access token for authorization. Please make a request with token attached.' });
        return json(res, 200, { code: 0, msg: 'success', data: account });
      }
      // WeChat.
      case '/connect/qrconnect':
        if (q.get('appid') !== clientId || q.get('scope') !== 'snsapi_login') return json(res, 200, { errcode: 10003, errmsg: 'redirect_uri or scope invalid' });
        return approve(res, 'wechat', q.get('redirect_uri'), q.get('state'));
      case '/sns/oauth2/access_token': {
        if (q.get('appid') !== clientId || q.get('secret') !== clientSecret) return json(res, 200, { errcode: 40125, errmsg: 'invalid appsecret' });
        if (q.get('grant_type') !== 'authorization_code') return json(res, 200, { errcode: 40002, errmsg: 'invalid grant_type' });
        const got = redeem('wechat', q.get('code'));
        if (!got) return json(res, 200, { errcode: 40029, errmsg: 'invalid code' });
        return json(res, 200, { access_token: got.token, expires_in: 7200, refresh_token: random(), openid: got.account.openid, scope: 'snsapi_login', ...(got.account.unionid ? { unionid: got.account.unionid } : {}) });
      }
      case '/sns/userinfo': {
        const found = state.tokens.get(q.get('access_token'));
        if (!found || found.kind !== 'wechat') return json(res, 200, { errcode: 40001, errmsg: 'invalid credential, access_token is invalid or not latest' });
        if (q.get('openid') !== found.account.openid) return json(res, 200, { errcode: 40003, errmsg: 'invalid openid' });
        const { openid, unionid, nickname, headimgurl } = found.account;
        return json(res, 200, { openid, nickname, sex: 0, province: '', city: '', country: 'CN', headimgurl, privilege: [], ...(unionid ? { unionid } : {}) });
      }
      default:
        return json(res, 404, { error: 'not found' });
    }
  }
  server.on('request', (req, res) => { handle(req, res).catch((e) => json(res, 500, { error: String(e) })); });

  return {
    base, clientId, clientSecret, state,
    // The provider configs for auth.admin_create_oauth_provider, endpoints here.
    config: {
      github: { provider: 'github', kind: 'github', authorization_url: `${base}/login/oauth/authorize`,
        token_url: `${base}/login/oauth/access_token`, userinfo_url: `${base}/api/user` },
      feishu: { provider: 'feishu', kind: 'feishu', email_optional: true, authorization_url: `${base}/open-apis/authen/v1/authorize`,
        token_url: `${base}/open-apis/authen/v2/oauth/token`, userinfo_url: `${base}/open-apis/authen/v1/user_info` },
      wechat: { provider: 'wechat', kind: 'wechat', email_optional: true, scopes: 'snsapi_login', authorization_url: `${base}/connect/qrconnect`,
        token_url: `${base}/sns/oauth2/access_token`, userinfo_url: `${base}/sns/userinfo` },
    },
    next(kind, account) { state.next[kind] = account; },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}
