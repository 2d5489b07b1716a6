// make demo's local inbox: an SMTP server on 127.0.0.1 that keeps every mail
// auth_ext_gateway send delivers, a send-SMS webhook (POST /sms) that keeps text
// messages, a page listing both (newest first, mail rendered as sent; links open in a new
// tab), and one line per message in the terminal. Not for production: it accepts anything
// and checks no signature.
//   SMTP_PORT=2525 PORT=3100 node serve.mjs
import http from 'node:http';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

const smtpPort = Number(process.env.SMTP_PORT || 2525);
const port = Number(process.env.PORT || 3100);
const mail = [];
const escape = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

const smtp = new SMTPServer({
  authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
  onData(stream, session, callback) {
    simpleParser(stream).then((parsed) => {
      const to = session.envelope.rcptTo.map((r) => r.address).join(', ');
      mail.unshift({ to, subject: parsed.subject, html: parsed.html || '', text: parsed.text || '', at: new Date() });
      const code = (parsed.text || '').match(/\b\d{6}\b/)?.[0];
      console.log(`inbox: ${to}: ${parsed.subject}${code ? ` (code ${code})` : ''}`);
      callback();
    }, callback);
  },
});
smtp.listen(smtpPort, '127.0.0.1');

http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/sms') {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      try {
        const hook = JSON.parse(body);
        const to = hook.user?.phone ? `+${hook.user.phone}` : '?';
        const text = `Your code is ${hook.sms?.otp}`;
        mail.unshift({ to, subject: `SMS: ${text}`, html: `<p>${escape(text)}</p>`, text, at: new Date() });
        console.log(`inbox: ${to}: ${text}`);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        res.writeHead(400).end();
      }
    });
    return;
  }
  if (req.url === '/messages.json') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(mail.map(({ to, subject, text, at }) => ({ to, subject, text, at }))));
  }
  const items = mail.map((m) => `<article><h2>${escape(m.subject)}</h2><p>to ${escape(m.to)}, ${m.at.toISOString()}</p>
    <iframe sandbox="allow-popups allow-popups-to-escape-sandbox" srcdoc="${escape(`<base target="_blank">${m.html}`)}"></iframe></article>`).join('');
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>Inbox · auth_ext demo</title>
    <style>body{font:15px system-ui;max-width:44rem;margin:2rem auto}article{border-bottom:1px solid #ddd;padding:.5rem 0}
    iframe{width:100%;height:12rem;border:1px solid #eee}</style><h1>Inbox</h1>${items || '<p>No mail yet.</p>'}`);
}).listen(port, '127.0.0.1', () => console.log(`inbox: http://127.0.0.1:${port}/ (SMTP on 127.0.0.1:${smtpPort})`));
