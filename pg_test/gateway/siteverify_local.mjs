// A local stand-in for hCaptcha's siteverify (docs.hcaptcha.com/#verify-the-user-response-server-side;
// Cloudflare Turnstile's has the same shape): POST secret, response, remoteip as a form;
// answers {"success": true} or {"success": false, "error-codes": [...]}. It accepts tokens
// that start with "pass-", each once (a replay is "invalid-or-already-seen-response"), and
// only with the tier's secret.
import http from 'node:http';

export const CAPTCHA_SECRET = 'tier-captcha-secret';

export async function startSiteverify(port) {
  const seen = new Set();
  const calls = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const token = form.get('response') ?? '';
      calls.push({ path: req.url, token, remoteip: form.get('remoteip'), type: req.headers['content-type'] });
      let answer = { success: true };
      if (req.method !== 'POST' || req.url !== '/siteverify') answer = { success: false, 'error-codes': ['bad-request'] };
      else if (form.get('secret') !== CAPTCHA_SECRET) answer = { success: false, 'error-codes': ['invalid-input-secret'] };
      else if (!token.startsWith('pass-')) answer = { success: false, 'error-codes': ['invalid-input-response'] };
      else if (seen.has(token)) answer = { success: false, 'error-codes': ['invalid-or-already-seen-response'] };
      seen.add(token);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { calls, close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }) };
}
