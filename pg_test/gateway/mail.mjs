// Mail actually delivered: `auth_ext_gateway send` against a real SMTP server
// (smtp_local.mjs). supabase-js signs up, the mail's link signs the user in; Supabase's
// templates and variables; faults (a 4xx, a 5xx, the server down and back, a sender
// killed mid-batch, two senders at once); header and HTML injection from user data.
import { spawn } from 'node:child_process';
import { check, sql } from '../harness.mjs';
import { AUTH, SITE_URL, STAMP, client, fragmentOf, lit, sleep, waitFor } from './common.mjs';
import { startSmtp } from './smtp_local.mjs';

// Every sender a test starts, so that a failing test leaves none running.
const running = new Set();

export function startSender(smtp, extra = {}) {
  const child = spawn(process.env.GATEWAY_BIN, ['send'], {
    env: { ...process.env, AUTH_SENDER_DATABASE_URL: process.env.SENDER_DATABASE_URL, AUTH_SENDER_SMTP_HOST: '127.0.0.1',
      AUTH_SENDER_SMTP_PORT: String(smtp?.port ?? 25), AUTH_SENDER_SMTP_TLS: 'none', AUTH_SENDER_FROM: 'no-reply@auth-ext.test',
      AUTH_SENDER_FROM_NAME: 'Tier', AUTH_SENDER_POLL: '1', AUTH_SENDER_LEASE: '20', RUST_LOG: 'auth_ext_gateway=warn', ...extra },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.log = '';
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.stderr.on('data', (d) => { child.log += d; });
  return child;
}
export const stopSender = (child) => new Promise((resolve) => { if (child.exitCode !== null) return resolve(); child.once('exit', resolve); child.kill('SIGKILL'); });
const outboxOf = (address) => JSON.parse(sql(`select coalesce(jsonb_agg(jsonb_build_object('status', status, 'attempts', attempts,
  'last_error', last_error, 'code', payload ? 'email_otp', 'link', payload ? 'action_link') order by id), '[]') from auth.outbox where recipient = ${lit(address)}`));
// A mail's first link, as its HTML writes it (entities undone).
export const linkIn = (html) => (html.match(/href="([^"]+)"/)?.[1] ?? '').replaceAll('&amp;', '&');

export async function mail() {
  const smtp = await startSmtp();
  // Earlier sections' messages are not this section's: sent already, as far as it cares.
  sql(`update auth.outbox set status = 'sent' where status = 'pending'`);
  let sender = startSender(smtp);
  try {
    // Sign-up: the confirmation mail arrives, HTML and text, and its link signs the user in.
    const email = `mail-${STAMP}@example.com`;
    const { error } = await client().auth.signUp({ email, password: 'mail tier passphrase', options: { emailRedirectTo: SITE_URL } });
    await waitFor('the confirmation mail', async () => smtp.to(email).length > 0);
    const [confirmation] = smtp.to(email);
    const link = linkIn(confirmation.parsed.html || '');
    check('signUp: one mail from the sender, Supabase\'s subject, HTML and text parts', [null, 1, 'Confirm your email address', 'no-reply@auth-ext.test', true, true],
      [error?.message ?? null, smtp.to(email).length, confirmation.parsed.subject, confirmation.parsed.from?.value?.[0]?.address,
        link.includes('/verify?token='), (confirmation.parsed.text || '').includes('Confirm email address')]);
    const public_ = sql(`select current_setting('auth_ext.api_external_url')`);
    const followed = await fetch(`${AUTH}${link.slice(public_.length)}`, { redirect: 'manual' });
    const fragment = fragmentOf(followed.headers.get('location') ?? '');
    check('following the mail\'s link: 303 to the site, signed in, confirmed', [303, true, true],
      [followed.status, !!fragment.get('access_token'), sql(`select email_confirmed_at is not null from auth.users where email = ${lit(email)}`) === 't']);
    // (jsonb orders keys by length, then bytes.)
    check('once sent, the code and link leave the table', [{ code: false, link: false, status: 'sent', attempts: 1, last_error: null }], outboxOf(email));

    // Recovery and both halves of an email change, through the same sender.
    const changer = `mail-change-${STAMP}@example.com`;
    const renamed = `mail-renamed-${STAMP}@example.com`;
    const { data: made } = await client().auth.signUp({ email: changer, password: 'change tier passphrase' });
    sql(`update auth.users set email_confirmed_at = now() where id = ${lit(made.user.id)}`);
    await client().auth.resetPasswordForEmail(changer, { redirectTo: SITE_URL });
    const changing = client();
    await changing.auth.signInWithPassword({ email: changer, password: 'change tier passphrase' });
    await changing.auth.updateUser({ email: renamed });
    await waitFor('recovery and email-change mails', async () =>
      smtp.to(changer).some((m) => m.parsed.subject === 'Reset your password')
      && smtp.to(changer).filter((m) => m.parsed.subject === 'Confirm your new email address').length === 1
      && smtp.to(renamed).length === 1, 15000);
    const toNew = smtp.to(renamed)[0];
    const toCurrent = smtp.to(changer).find((m) => m.parsed.subject === 'Confirm your new email address');
    check('recovery, and an email change\'s two mails (to the current address and to the new one, naming it)',
      [true, true, true],
      [linkIn(smtp.to(changer).find((m) => m.parsed.subject === 'Reset your password').parsed.html).includes('type=recovery'),
        (toNew.parsed.html || '').includes(`confirm ${renamed} as your new email address`), linkIn(toNew.parsed.html).includes('type=email_change')]);
    // Following both links moves the email.
    for (const mailed of [toCurrent, toNew]) await fetch(`${AUTH}${linkIn(mailed.parsed.html).slice(public_.length)}`, { redirect: 'manual' });
    check('following both email-change links moves the email', renamed, sql(`select email from auth.users where id = ${lit(made.user.id)}`));

    // A Supabase template with every variable, rendered as GoTrue renders it (values
    // HTML-escaped; a line break in a subject never starts a header).
    sql(`insert into auth.email_templates (template, subject, body) values ('magic_link', '{{ .Data.name }} sign in to {{ .SiteURL }}',
      '<p>{{ .Email }}|{{ .Token }}|{{ .TokenHash }}|{{ .RedirectTo }}|{{ .Data.name }}|{{ if eq .Data.lang "de" }}Hallo{{ else }}Hi{{ end }}</p><a href="{{ .ConfirmationURL }}">go</a>')`);
    const magic = `mail-magic-${STAMP}@example.com`;
    await client().auth.signUp({ email: magic, password: 'magic tier passphrase', options: { data: { name: '<b>Ann</b>\r\nBcc: evil@example.com', lang: 'de' } } });
    sql(`update auth.users set email_confirmed_at = now() where email = ${lit(magic)}`);
    await client().auth.signInWithOtp({ email: magic });
    await waitFor('the magic link', async () => smtp.to(magic).some((m) => m.parsed.subject?.includes('sign in to')));
    const magicMail = smtp.to(magic).find((m) => m.parsed.subject?.includes('sign in to'));
    const html = magicMail.parsed.html || '';
    check('a Supabase template: every variable, escaped; the subject stays one line; no Bcc from user data',
      [true, true, true, true, [magic]],
      [html.includes(`<p>${magic}|`) && /\|\d{6}\|[\w-]{20,}\|/.test(html), html.includes(`|${SITE_URL}|`),
        html.includes('|&lt;b&gt;Ann&lt;/b&gt;') && html.includes('|Hallo</p>'),
        !magicMail.parsed.subject.includes('\n') && magicMail.parsed.headers.get('bcc') === undefined, magicMail.envelope]);
    sql(`delete from auth.email_templates`);

    // Line breaks in a redirect URL or a new email start no header.
    const crlf = `mail-crlf-${STAMP}@example.com`;
    await client().auth.signUp({ email: crlf, password: 'crlf tier passphrase', options: { emailRedirectTo: `${SITE_URL}/\r\nBcc: evil@example.com` } });
    await waitFor('the CRLF sign-up mail', async () => smtp.to(crlf).length > 0, 15000);
    const crlfMail = smtp.to(crlf)[0];
    const fresh = client();
    const { error: signInError } = await fresh.auth.signInWithPassword({ email: renamed, password: 'change tier passphrase' });
    const { error: badEmail } = await fresh.auth.updateUser({ email: `x-${STAMP}@example.com\r\nBcc: evil@example.com` });
    if (signInError) console.log(`# CRLF check: sign-in failed: ${signInError.message}`);
    check('CRLF in a redirect URL or a new email: no Bcc, one recipient; the address is refused', [[crlf], false, 'validation_failed'],
      [crlfMail.envelope, crlfMail.parsed.headers.has('bcc'), badEmail?.code ?? null]);

    // Faults. A 4xx: retried, delivered once. A 5xx: failed with its reason, not retried.
    const temp = `tempfail-${STAMP}@example.com`;
    const reject = `reject-${STAMP}@example.com`;
    await client().auth.signUp({ email: temp, password: 'tempfail passphrase' });
    await client().auth.signUp({ email: reject, password: 'reject passphrase' });
    await waitFor('the retried mail', async () => smtp.to(temp).length > 0, 15000);
    await waitFor('the refusal recorded', async () => outboxOf(reject)[0]?.status === 'failed', 15000);
    check('SMTP 451: retried after the delay, delivered once', [1, 'sent', 2], [smtp.to(temp).length, outboxOf(temp)[0].status, outboxOf(temp)[0].attempts]);
    check('SMTP 550: marked failed with its reason, secrets gone, not retried', ['failed', 1, true, false],
      [outboxOf(reject)[0].status, outboxOf(reject)[0].attempts, /550/.test(outboxOf(reject)[0].last_error ?? ''), outboxOf(reject)[0].code]);

    // The SMTP server down, then back: the mail waits, then arrives once.
    await smtp.stop();
    const later = `mail-later-${STAMP}@example.com`;
    await client().auth.signUp({ email: later, password: 'later tier passphrase' });
    await waitFor('a failed try recorded', async () => (outboxOf(later)[0]?.last_error ?? '') !== '', 15000);
    const waiting = outboxOf(later)[0];
    await smtp.restart();
    await waitFor('the mail after the server came back', async () => smtp.to(later).length > 0, 20000);
    await sleep(1500);
    check('the SMTP server down, then back: pending meanwhile, then delivered once', ['pending', 1, 'sent'],
      [waiting.status, smtp.to(later).length, outboxOf(later)[0].status]);

    // Two senders at once, one killed mid-batch: every one of 1,000 messages arrives, none
    // twice but what the killed one had in hand (at most its batch).
    sql(`insert into auth.outbox (kind, recipient, payload)
         select 'magiclink', format('bulk-%s-${STAMP}@example.com', i),
                jsonb_build_object('channel', 'email', 'email_otp', '123456', 'action_link', 'https://a.test/verify?token=t' || i)
         from generate_series(1, 1000) i`);
    const second = startSender(smtp);
    await waitFor('the first hundred', async () => smtp.mail.filter((m) => m.envelope[0].startsWith('bulk-')).length >= 100, 60000);
    await stopSender(sender);
    sender = startSender(smtp);
    await waitFor('all 1,000', async () => sql(`select count(*) from auth.outbox where recipient like 'bulk-%-${STAMP}@example.com' and status = 'sent'`) === '1000', 240000);
    const bulk = smtp.mail.filter((m) => m.envelope[0].startsWith('bulk-'));
    const distinct = new Set(bulk.map((m) => m.envelope[0]));
    check('two senders, one killed mid-batch: all 1,000 arrive, duplicates at most one batch', [1000, true],
      [distinct.size, bulk.length - distinct.size <= 20]);
    await stopSender(second);
  } finally {
    await Promise.all([...running].map(stopSender));
    await smtp.stop().catch(() => {});
  }
}

// Stops every sender still running (a test's finally).
export const stopAllSenders = () => Promise.all([...running].map(stopSender));
