// CAPTCHA at the front door (a second gateway with AUTH_GATEWAY_CAPTCHA_PROVIDER set,
// scripts/gateway.sh): every route Supabase Auth protects needs supabase-js' captchaToken,
// checked at a local siteverify; refreshes do not; forged and replayed tokens are refused.
import { createClient } from '@supabase/supabase-js';
import { check } from '../harness.mjs';
import { ANON_KEY, STAMP, address, makeUser } from './common.mjs';
import { startSiteverify } from './siteverify_local.mjs';

const refusal = (error) => [error?.code ?? null, error?.status ?? null, error?.message ?? null];
const noToken = ['captcha_failed', 400, 'captcha protection: request disallowed (no captcha_token found)'];

export async function captcha() {
  const siteverify = await startSiteverify(Number(process.env.CAPTCHA_SITEVERIFY_PORT));
  const guarded = () => createClient(process.env.CAPTCHA_BASE_URL, ANON_KEY, { auth: { persistSession: false, autoRefreshToken: false } });
  let n = 0;
  const token = () => `pass-${STAMP}-${++n}`;
  try {
    const user = makeUser('captcha');
    const email = address('captcha-new');
    const routes = {
      'signUp': (captchaToken) => guarded().auth.signUp({ email, password: 'captcha tier passphrase', options: { captchaToken } }),
      'signInAnonymously': (captchaToken) => guarded().auth.signInAnonymously({ options: { captchaToken } }),
      'signInWithPassword': (captchaToken) => guarded().auth.signInWithPassword({ email: user.email, password: user.password, options: { captchaToken } }),
      'signInWithOtp': (captchaToken) => guarded().auth.signInWithOtp({ email: user.email, options: { captchaToken } }),
      'resetPasswordForEmail': (captchaToken) => guarded().auth.resetPasswordForEmail(user.email, { captchaToken }),
      'resend': (captchaToken) => guarded().auth.resend({ type: 'signup', email, options: { captchaToken } }),
    };
    for (const [name, call] of Object.entries(routes)) {
      const without = await call(undefined);
      const forged = await call('forged-token');
      const right = await call(token());
      check(`CAPTCHA ${name}: refused without a token and with a forged one; passes with the provider's`,
        [noToken, ['captcha_failed', 400, 'captcha protection: request disallowed (invalid-input-response)'], null],
        [refusal(without.error), refusal(forged.error), right.error?.message ?? null]);
    }
    // A token is good once: the provider says so, and so does the gateway.
    const once = token();
    const first = await routes.signInWithPassword(once);
    const replay = await routes.signInWithPassword(once);
    check('a replayed CAPTCHA token is refused', [null, ['captcha_failed', 400, 'captcha protection: request disallowed (invalid-or-already-seen-response)']],
      [first.error?.message ?? null, refusal(replay.error)]);
    // Refreshes are not checked (middleware.go:278-300).
    const refreshed = await guarded().auth.refreshSession({ refresh_token: first.data.session.refresh_token });
    const asked = siteverify.calls.at(-1);
    check('a refresh needs no token; siteverify got the secret as a form with the client address', [null, 'application/x-www-form-urlencoded', '127.0.0.1'],
      [refreshed.error?.message ?? null, asked?.type, asked?.remoteip]);
  } finally {
    await siteverify.close();
  }
}
