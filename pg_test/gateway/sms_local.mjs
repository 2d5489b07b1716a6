// Local stand-ins for where the sender hands text messages and webhooks, per their
// documents: Twilio's Messages API (www.twilio.com/docs/messaging/api/message-resource:
// POST /2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP Basic with the account SID
// and auth token, form fields To, From or MessagingServiceSid, Body; 201 with the message,
// or an error {code, message, status}: 21211 for a bad To), and a receiver of webhooks
// signed as Standard Webhooks says, checked with the `standardwebhooks` package (an
// independent implementation).
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

const readBody = (req) => new Promise((resolve) => { let b = ''; req.on('data', (c) => { b += c; }); req.on('end', () => resolve(b)); });

export async function startTwilio({ sid = 'ACtier0000000000000000000000000000', token = 'tier-twilio-token' } = {}) {
  const messages = [];
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    const reply = (status, value) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(value)); };
    if (req.method !== 'POST' || req.url !== `/2010-04-01/Accounts/${sid}/Messages.json`) return reply(404, { code: 20404, message: 'The requested resource was not found', status: 404 });
    if (req.headers.authorization !== `Basic ${Buffer.from(`${sid}:${token}`).toString('base64')}`) return reply(401, { code: 20003, message: 'Authenticate', status: 401 });
    const form = new URLSearchParams(body);
    if (!/^\+[1-9]\d{1,14}$/.test(form.get('To') ?? '')) return reply(400, { code: 21211, message: "The 'To' number is not a valid phone number.", status: 400 });
    if (!form.get('From') && !form.get('MessagingServiceSid')) return reply(400, { code: 21603, message: "The 'From' phone number is required.", status: 400 });
    const message = { sid: `SM${messages.length.toString().padStart(32, '0')}`, to: form.get('To'), from: form.get('From'), body: form.get('Body'), status: 'queued' };
    messages.push(message);
    return reply(201, message);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, sid, token, messages, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}

export async function startWebhookReceiver(secret) {
  const received = [];
  const verifier = new Webhook(secret.replace(/^v1,/, ''));
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    let verified = false;
    try {
      verifier.verify(body, { 'webhook-id': req.headers['webhook-id'], 'webhook-timestamp': req.headers['webhook-timestamp'], 'webhook-signature': req.headers['webhook-signature'] });
      verified = true;
    } catch { /* recorded as unverified */ }
    received.push({ path: req.url, body: JSON.parse(body), headers: req.headers, raw: body, verified });
    res.writeHead(verified ? 200 : 401, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, received, verifier, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}
