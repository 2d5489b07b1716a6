// The gateway tier: auth_ext behind its HTTP gateway (gateway/, auth_ext_gateway), driven
// with supabase-js exactly as an application drives Supabase: createClient(BASE_URL, ANON_KEY),
// which talks to BASE_URL/auth/v1 (GoTrue's API) and BASE_URL/rest/v1 (PostgREST).
// Started by scripts/gateway.sh, which gives BASE_URL, ANON_KEY, SERVICE_KEY, SITE_URL and
// PG* (psql as the database owner: what an operator, or the mail/SMS sender, does).
// Prints one line per check and closes with "N passed, N failed"; exits 1 on any failure.
// One file per endpoint group (sign_in, admin, links, refresh, errors, gotrue, seeds, rest), sharing
// common.mjs; this file runs them in order.
// TIER_SECTIONS=links,seeds runs only those sections (methods, links, refresh, errors, seeds,
// rest; or one part, such as seeds-002: see the list at the end).
//
// What it needs from the database (scripts/gateway.sh sets it): auth_ext.anonymous_sign_ins =
// on, mailer_autoconfirm off, secure_email_change on, jwt_exp 3600, site_url = SITE_URL (on the
// gateway's redirect allow list), the rate limits out of the way, and nobody claiming
// auth.outbox while it runs (codes and links are read there). refresh_token_reuse_interval is
// read and waited out where needed (0 makes the run quicker).

import { crashed, finish } from '../harness.mjs';
import { setUp } from './common.mjs';
import { anonymous, emailAndPassword, otp, signOuts } from './sign_in.mjs';
import { adminApi } from './admin.mjs';
import { links } from './links.mjs';
import { refresh } from './refresh.mjs';
import { errors } from './errors.mjs';
import { anonymousGuide, serverSideRendering, secureEmailChange, feishuRecipe } from './seeds.mjs';
import { rest, abandoned } from './rest.mjs';
import { gotrueAnswers } from './gotrue.mjs';
import { socialSignIn } from './social.mjs';
import { idTokenSignIn } from './id_token.mjs';
import { socialKinds } from './social_kinds.mjs';
import { mfa } from './mfa.mjs';
import { captcha } from './captcha.mjs';
import { mail } from './mail.mjs';
import { smsAndWebhooks } from './sms.mjs';

const sections = {
  'methods-anonymous': anonymous,
  'methods-password': emailAndPassword,
  'methods-otp': otp,
  'methods-signout': signOuts,
  'methods-admin': adminApi,
  links,
  refresh,
  errors,
  gotrue: gotrueAnswers,
  social: socialSignIn,
  'social-id-token': idTokenSignIn,
  'social-kinds': socialKinds,
  mfa,
  captcha,
  mail,
  'mail-sms': smsAndWebhooks,
  'seeds-000': anonymousGuide,
  'seeds-002': serverSideRendering,
  'seeds-003': secureEmailChange,
  'seeds-004': feishuRecipe,
  rest,
  abandoned,
};

async function main() {
  await setUp();
  const only = process.env.TIER_SECTIONS?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const [name, run] of Object.entries(sections)) {
    if (only && !only.some((o) => name === o || name.startsWith(`${o}-`))) continue;
    console.log(`--- ${name}`);
    try {
      await run();
    } catch (e) {
      crashed(e);
    }
  }
  finish('gateway');
}

main().catch((e) => {
  crashed(e);
  finish('gateway');
});
