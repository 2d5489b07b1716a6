// Text messages and webhooks delivered by `auth_ext_gateway send`: Twilio's Messages API
// (a local server following its document), and Supabase's send-SMS and send-email hooks
// signed as Standard Webhooks says, verified with an independent implementation.
import crypto from 'node:crypto';
import { check, sql } from '../harness.mjs';
import { STAMP, client, lit, waitFor } from './common.mjs';
import { startSender, stopAllSenders, stopSender } from './mail.mjs';
import { startTwilio, startWebhookReceiver } from './sms_local.mjs';

export async function smsAndWebhooks() {
  sql(`update auth.outbox set status = 'sent' where status = 'pending'`);
  const twilio = await startTwilio();
  let sender = startSender(null, { AUTH_SENDER_SMTP_HOST: '', AUTH_SENDER_SMS_PROVIDER: 'twilio', AUTH_SENDER_TWILIO_URL: twilio.url,
    AUTH_SENDER_TWILIO_ACCOUNT_SID: twilio.sid, AUTH_SENDER_TWILIO_AUTH_TOKEN: twilio.token, AUTH_SENDER_TWILIO_FROM: '+15005550006' });
  const secret = `v1,whsec_${crypto.randomBytes(32).toString('base64')}`;
  const hooks = await startWebhookReceiver(secret);
  try {
    // Twilio: the code goes out, and it signs the user in.
    const phone = `1555${String(STAMP).slice(-7)}`;
    const supabase = client();
    await supabase.auth.signInWithOtp({ phone: `+${phone}` });
    await waitFor('the text message', async () => twilio.messages.some((m) => m.to === `+${phone}`), 15000);
    const sent = twilio.messages.find((m) => m.to === `+${phone}`);
    const code = sent.body.match(/\d{6}/)?.[0];
    const { data, error } = await supabase.auth.verifyOtp({ phone: `+${phone}`, token: code, type: 'sms' });
    check('Twilio: "Your code is …" from the configured number; the code signs in; sent, the code gone from the table',
      [true, '+15005550006', null, true, 'sent', false],
      [/^Your code is \d{6}$/.test(sent.body), sent.from, error?.message ?? null, !!data.session,
        sql(`select status from auth.outbox where recipient = ${lit(phone)} order by id desc limit 1`),
        sql(`select payload ? 'otp' from auth.outbox where recipient = ${lit(phone)} order by id desc limit 1`) === 't']);
    await stopSender(sender);

    // Webhooks, for text messages and mail: Supabase's hook payloads, signed.
    sender = startSender(null, { AUTH_SENDER_SMTP_HOST: '', AUTH_SENDER_SMS_PROVIDER: 'webhook',
      AUTH_SENDER_SMS_WEBHOOK_URL: `${hooks.url}/sms`, AUTH_SENDER_SMS_WEBHOOK_SECRET: secret,
      AUTH_SENDER_EMAIL_WEBHOOK_URL: `${hooks.url}/email`, AUTH_SENDER_EMAIL_WEBHOOK_SECRET: secret });
    const phone2 = `1556${String(STAMP).slice(-7)}`;
    await client().auth.signInWithOtp({ phone: `+${phone2}` });
    const email = `hook-${STAMP}@example.com`;
    await client().auth.signUp({ email, password: 'webhook tier passphrase' });
    await waitFor('both webhooks', async () => hooks.received.some((r) => r.path === '/sms') && hooks.received.some((r) => r.path === '/email'), 15000);
    const smsHook = hooks.received.find((r) => r.path === '/sms');
    const mailHook = hooks.received.find((r) => r.path === '/email');
    check('send-SMS hook: signed (verified by standardwebhooks), {user, sms: {otp}}', [true, true, `${phone2}`],
      [smsHook.verified, /^\d{6}$/.test(smsHook.body.sms?.otp ?? ''), smsHook.body.user?.phone]);
    check('send-email hook: signed, {user, email_data} as Supabase Auth sends it', [true, 'signup', email, true, true],
      [mailHook.verified, mailHook.body.email_data?.email_action_type, mailHook.body.user?.email,
        /^\d{6}$/.test(mailHook.body.email_data?.token ?? ''), (mailHook.body.email_data?.token_hash ?? '').length > 20]);
    let forgedRefused = false;
    try {
      hooks.verifier.verify(mailHook.raw.replace(email, 'evil@example.com'), {
        'webhook-id': mailHook.headers['webhook-id'], 'webhook-timestamp': mailHook.headers['webhook-timestamp'], 'webhook-signature': mailHook.headers['webhook-signature'] });
    } catch {
      forgedRefused = true;
    }
    check('a changed payload fails the signature', true, forgedRefused);
  } finally {
    await stopSender(sender);
    await stopAllSenders();
    await twilio.close();
    await hooks.close();
  }
}
