// A local OpenID provider for make demo's "Sign in with Demo": npm oidc-provider (OpenID
// Certified) with its development login pages, where any name signs in (an email as the
// name is that account's verified email; else NAME@example.com). Not for production.
//   ISSUER_PORT=4000 CLIENT_ID=demo CLIENT_SECRET=... CALLBACK=http://127.0.0.1:8000/auth/v1/callback node serve.mjs
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.ISSUER_PORT || 4000);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID, client_secret: process.env.CLIENT_SECRET, redirect_uris: [process.env.CALLBACK],
    token_endpoint_auth_method: 'client_secret_post', grant_types: ['authorization_code'], response_types: ['code'],
  }],
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: id.includes('@') ? id : `${id}@example.com`, email_verified: true, name: id }),
  }),
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  scopes: ['openid', 'email', 'profile'],
  // As Google's: the ID token itself carries the email.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ['demo-only-cookie-key'] },
});
http.createServer(provider.callback()).listen(port, '127.0.0.1', () => console.log(`OpenID provider: ${issuer}`));
