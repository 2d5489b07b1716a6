// The browser check: examples/todo-app in a headless Chromium, through auth_ext's gateway,
// as a visitor uses it: guest, todos, an email confirmed with the code from the outbox, a
// password, sign out, sign in again; and a second visitor who sees none of it.
// The caller serves the app at APP_URL and gives PG* variables (psql as the database
// owner, to read the outbox); CHROMIUM names the browser (default /usr/bin/chromium).
// Prints one line per check and closes with "N passed, N failed".
import { check, crashed, finish, literal, sql, tally } from '../harness.mjs';
import puppeteer from 'puppeteer-core';
import { startOidc } from './oidc_local.mjs';
import { startSiteverify } from './siteverify_local.mjs';
import { startSmtp } from './smtp_local.mjs';
import { linkIn, startSender, stopAllSenders, stopSender } from './mail.mjs';
import otplib from 'otplib';

// A TOTP code `steps` time steps from now, from otplib (never the extension's own code).
function totpAt(secret, steps = 0) {
  otplib.authenticator.options = { epoch: Date.now() + steps * 30000 };
  const code = otplib.authenticator.generate(secret);
  otplib.authenticator.resetOptions();
  return code;
}

const APP_URL = process.env.APP_URL;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 10000;
// A check the rest of the journey depends on: when it fails, the run stops there.
class Stop extends Error {}
function must(...args) {
  if (!check(...args)) throw new Stop();
}

// Console errors (a refused CORS preflight shows up here), printed when a check fails.
const consoleErrors = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// What a page shows, in one read.
const state = (page) => page.evaluate(() => {
  const text = (id) => document.getElementById(id)?.textContent.trim() ?? null;
  const list = document.getElementById('todos');
  return {
    who: text('who'),
    userId: text('user-id'),
    error: text('error'),
    notice: text('notice'),
    listFor: list.dataset.for ?? '',
    loads: Number(list.dataset.loads ?? 0),
    todos: [...list.querySelectorAll('li')].map((li) => ({
      id: Number(li.id.replace('todo-', '')),
      task: li.querySelector('.task').textContent,
      done: li.classList.contains('done'),
    })),
  };
});

// Waits until the page's state passes `test`; on a timeout, says what the page showed.
async function until(page, what, test) {
  const start = Date.now();
  for (;;) {
    // While the page navigates (to a provider and back) there is nothing to read yet.
    const s = await state(page).catch(() => null);
    if (s && test(s)) return s;
    if (Date.now() - start > TIMEOUT) {
      throw new Error(`timed out waiting for ${what}; the page (${page.url()}) shows ${JSON.stringify(s && { ...s, todos: s.todos.length })}`);
    }
    await sleep(50);
  }
}

// Types into an input (clearing it first) and clicks a button.
async function fill(page, fields, button) {
  for (const [id, value] of Object.entries(fields)) {
    await page.$eval(`#${id}`, (el) => { el.value = ''; });
    await page.type(`#${id}`, value);
  }
  await page.click(`#${button}`);
}

async function openApp(context, pageErrors, { path = '', publicAuth, gateway } = {}) {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => pageErrors.push(String(e.message ?? e)));
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  if (publicAuth) {
    // The gateway's public address (auth_ext.api_external_url), where providers send the
    // browser back, reached as a reverse proxy would: by the gateway here.
    await page.setRequestInterception(true);
    page.on('request', (request) => {
      const target = request.url();
      if (!target.startsWith(publicAuth)) return request.continue();
      return request.respond({ status: 302, headers: { location: `${gateway}/auth/v1${target.slice(publicAuth.length)}` } });
    });
  }
  await page.goto(`${APP_URL}${path}`, { waitUntil: 'load' });
  await until(page, 'the app to start', (s) => s.who === 'signed out');
  return page;
}

// Clicks "Refresh" and waits for the list it loads.
async function refresh(page) {
  const { loads } = await state(page);
  await page.click('#refresh');
  return until(page, 'the list to load again', (s) => s.error || s.loads > loads);
}

async function addTodo(page, task, count) {
  await fill(page, { 'new-task': task }, 'add');
  return until(page, `"${task}" in the list`, (s) => s.error || s.todos.length === count);
}

async function main() {
  if (!APP_URL) throw new Error('APP_URL is not set');
  const email = `browser-${Date.now()}@example.com`;
  const password = 'browser tier passphrase 7';
  const pageErrors = [];
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--headless=new', '--disable-dev-shm-usage'],
  });
  try {
    check('browser: Chromium starts', true, /Chrome|Chromium/.test(await browser.version()));
    const page = await openApp(browser.defaultBrowserContext(), pageErrors);
    let s = await state(page);
    check('page: supabase-js loaded, signed out at first', ['signed out', ''], [s.who, s.error]);

    // --- A guest.
    await page.click('#guest');
    s = await until(page, 'the guest session', (x) => x.error || (x.who === 'anonymous' && x.listFor === x.userId));
    must('guest: "Continue as guest" signs in anonymously', ['anonymous', ''], [s.who, s.error]);
    const userId = s.userId;
    check('guest: the page shows the user id', true, /^[0-9a-f-]{36}$/.test(userId));
    check('guest: no todos yet', 0, s.todos.length);

    await addTodo(page, 'buy milk', 1);
    s = await addTodo(page, 'walk the dog', 2);
    must('todos: two added and listed in order', ['', ['buy milk', 'walk the dog']], [s.error, s.todos.map((t) => t.task)]);
    const ids = s.todos.map((t) => t.id);
    check('todos: stored as the guest\'s (owner default auth.uid())', `${userId}|${userId}`,
      sql(`select string_agg(user_id::text, '|' order by id) from public.todos where id in (${ids.join(',')})`));
    await page.click(`#toggle-${ids[0]}`);
    s = await until(page, 'the toggle', (x) => x.error || x.todos[0]?.done);
    check('todos: toggled one', ['', [true, false]], [s.error, s.todos.map((t) => t.done)]);
    check('todos: toggled in the table', 'true|false',
      sql(`select string_agg(is_complete::text, '|' order by id) from public.todos where id in (${ids.join(',')})`));
    await page.reload({ waitUntil: 'load' });
    s = await until(page, 'the session after a reload', (x) => x.error || (x.who === 'anonymous' && x.listFor === userId));
    check('guest: a reload keeps the session and the todos', [userId, 2], [s.userId, s.todos.length]);

    // --- Keep the todos: add an email, confirmed with the code from the outbox.
    await fill(page, { email }, 'add-email');
    s = await until(page, 'the code form', (x) => x.error || x.notice.includes(email));
    check('email: "Add email" asks for the code', ['', true], [s.error, await page.$eval('#verify-form', (f) => !f.hidden)]);
    let code = '';
    for (const start = Date.now(); !code && Date.now() - start < TIMEOUT; await sleep(100)) {
      code = sql(`select payload->>'email_otp' from auth.outbox where recipient = ${literal(email)}
                  and kind = 'email_change_new' order by id desc limit 1`);
    }
    must('email: a 6-digit code in the outbox', true, /^\d{6}$/.test(code));
    await fill(page, { code }, 'verify');
    s = await until(page, 'the email to be confirmed', (x) => x.error || x.who === email);
    must('email: verified; the status shows the email, same user', [email, userId, ''], [s.who, s.userId, s.error]);
    check('email: the user is permanent in the table', 'f',
      sql(`select is_anonymous from auth.users where id = ${literal(userId)}`));
    s = await refresh(page);
    check('email: the todos are still there', [['buy milk', true], ['walk the dog', false]], s.todos.map((t) => [t.task, t.done]));

    // --- A password, then out and back in.
    await fill(page, { password }, 'set-password');
    s = await until(page, 'the password', (x) => x.error || x.notice === 'Password set.');
    check('password: set', ['', 'Password set.'], [s.error, s.notice]);

    await page.click('#sign-out');
    s = await until(page, 'the sign-out', (x) => x.error || x.who === 'signed out');
    must('sign out: the status says signed out, no todos shown', ['signed out', '', 0], [s.who, s.error, s.todos.length]);
    check('sign out: the sign-in form is back', true, await page.$eval('#sign-in-form', (f) => f.offsetParent !== null));

    await fill(page, { 'sign-in-email': email, 'sign-in-password': password }, 'sign-in');
    s = await until(page, 'the sign-in', (x) => x.error || (x.who === email && x.listFor === userId));
    must('sign in: email and password, same user', [email, userId, ''], [s.who, s.userId, s.error]);
    check('sign in: the same todos are back', [ids, ['buy milk', 'walk the dog']], [s.todos.map((t) => t.id), s.todos.map((t) => t.task)]);
    s = await addTodo(page, 'call mum', 3);
    must('sign in: a todo added after signing in', ['', 'call mum'], [s.error, s.todos[2]?.task]);
    const mine = s.todos.map((t) => t.id);

    // --- Another visitor, in a context of its own (no shared storage).
    const other = await browser.createBrowserContext();
    try {
      const page2 = await openApp(other, pageErrors);
      await page2.click('#guest');
      let s2 = await until(page2, 'the second guest', (x) => x.error || (x.who === 'anonymous' && x.listFor === x.userId));
      must('isolation: a second guest is another user', [true, ''], [s2.userId !== userId && s2.userId !== '', s2.error]);
      check('isolation: it sees none of the first user\'s todos', 0, s2.todos.length);
      const probe = await page2.evaluate(async (ids) => {
        const { supabase } = window.todoApp;
        const read = await supabase.from('todos').select('id').in('id', ids);
        const changed = await supabase.from('todos').update({ task: 'mine now' }).in('id', ids).select('id');
        const removed = await supabase.from('todos').delete().in('id', ids).select('id');
        return [read, changed, removed].map((r) => [r.error?.message ?? null, r.data?.length ?? null]);
      }, mine);
      check('isolation: asked by id, nothing to read, change or delete', [[null, 0], [null, 0], [null, 0]], probe);
      await addTodo(page2, 'not yours', 1);
      s = await refresh(page);
      check('isolation: the first user still has exactly its three todos', mine, s.todos.map((t) => t.id));
    } finally {
      await other.close();
    }

    // --- Delete.
    await page.click(`#delete-${mine[2]}`);
    s = await until(page, 'the delete', (x) => x.error || x.todos.length === 2);
    check('delete: gone from the list and the table', [ids, '0'],
      [s.todos.map((t) => t.id), sql(`select count(*) from public.todos where id = ${mine[2]}`)]);

    await twoFactor(page, email, password);
    await captchaInBrowser(page, email);
    await mailInBrowser(browser, pageErrors);
    await socialJourney(browser, pageErrors);

    check('no uncaught errors in the pages', [], pageErrors);
  } finally {
    await browser.close();
  }
  if (tally.failed) printConsole();
  finish('browser');
}

// "Enable two-factor": the QR code and key shown, turned on with a code from otplib;
// then signing in again asks for a code after the password, and only then lists the todos.
async function twoFactor(page, email, password) {
  await page.click('#enable-2fa');
  await page.waitForSelector('#totp-setup:not([hidden])');
  const secret = await page.$eval('#totp-secret', (e) => e.textContent.trim());
  const qr = await page.$eval('#totp-qr', (img) => img.src);
  check('two-factor: the app shows the key and the QR code', [true, true], [/^[A-Z2-7]{32}$/.test(secret), qr.startsWith('data:image/svg+xml')]);
  await fill(page, { 'totp-code': totpAt(secret) }, 'verify-2fa');
  let s = await until(page, 'two-factor on', (x) => x.error || x.notice === 'Two-factor authentication is on.');
  must('two-factor: turned on, the session is aal2', ['', 'aal2'], [s.error, await page.$eval('#who', (w) => w.dataset.aal)]);
  await page.click('#sign-out');
  await until(page, 'the sign-out', (x) => x.who === 'signed out');
  await fill(page, { 'sign-in-email': email, 'sign-in-password': password }, 'sign-in');
  await page.waitForSelector('#second-factor-view:not([hidden])');
  check('two-factor: after the password, the app asks for the code (aal1, todos hidden)', ['aal1', true],
    [await page.$eval('#who', (w) => w.dataset.aal), await page.$eval('#signed-in-view', (v) => v.hidden)]);
  // The next step's code: the one just used is never accepted twice.
  await fill(page, { 'mfa-code': totpAt(secret, 1) }, 'mfa-verify');
  await page.waitForSelector('#second-factor-view[hidden]');
  s = await until(page, 'the code accepted', (x) => x.error || (x.who === email && x.listFor === x.userId && x.loads > 0));
  check('two-factor: the code from the app signs in at aal2, todos back', ['', 'aal2', 2],
    [s.error, await page.$eval('#who', (w) => w.dataset.aal), s.todos.length]);
}

// Mail actually delivered, and followed in the browser: a sign-up in the app, its
// confirmation mail from auth_ext_gateway send to a real SMTP server, its link opened in
// Chromium, and the app signed in.
async function mailInBrowser(browser, pageErrors) {
  const smtp = await startSmtp();
  sql(`update auth.outbox set status = 'sent' where status = 'pending'`);
  const sender = startSender(smtp);
  const context = await browser.createBrowserContext();
  try {
    const publicAuth = sql(`select current_setting('auth_ext.api_external_url')`);
    const probe = await openApp(context, pageErrors);
    const gateway = await probe.evaluate(() => window.AUTH_EXT.url);
    await probe.close();
    const page = await openApp(context, pageErrors, { publicAuth, gateway });
    const email = `browser-mail-${Date.now()}@example.com`;
    const signedUp = await page.evaluate(async (address) => {
      const { error } = await window.todoApp.supabase.auth.signUp({ email: address, password: 'browser mail passphrase',
        options: { emailRedirectTo: `${location.origin}/` } });
      return error?.message ?? null;
    }, email);
    const start = Date.now();
    while (!smtp.to(email).length && Date.now() - start < 15000) await sleep(100);
    const link = linkIn(smtp.to(email)[0]?.parsed.html ?? '');
    must('mail: the sign-up\'s confirmation arrives with its link', [null, true], [signedUp, link.startsWith(publicAuth)]);
    await page.goto(link, { waitUntil: 'load' });
    let s = await until(page, 'signed in from the mail', (x) => x.error || x.who === email);
    check('mail: the link opened in Chromium lands in the app, signed in and confirmed', [email, ''], [s.who, s.error]);
    // The same for a magic link and a recovery link, each from its own mail.
    for (const [what, subject, ask] of [
      ['magic link', 'Your sign-in link', (address) => window.todoApp.supabase.auth.signInWithOtp({ email: address, options: { emailRedirectTo: `${location.origin}/` } })],
      ['recovery', 'Reset your password', (address) => window.todoApp.supabase.auth.resetPasswordForEmail(address, { redirectTo: `${location.origin}/` })],
    ]) {
      await page.click('#sign-out');
      await until(page, 'the sign-out', (x) => x.who === 'signed out');
      await page.evaluate(`(${ask.toString()})(${JSON.stringify(email)})`);
      const begun = Date.now();
      while (!smtp.to(email).some((m) => m.parsed.subject === subject) && Date.now() - begun < 15000) await sleep(100);
      const mailed = smtp.to(email).filter((m) => m.parsed.subject === subject).at(-1);
      const href = linkIn(mailed?.parsed.html ?? '');
      await page.goto(href, { waitUntil: 'load' });
      s = await until(page, `signed in from the ${what} mail`, (x) => x.error || x.who === email);
      check(`mail: the ${what} link opened in Chromium signs in`, [email, ''], [s.who, s.error]);
    }
  } finally {
    await context.close();
    await stopSender(sender);
    await stopAllSenders();
    await smtp.stop();
  }
}

// CAPTCHA, as a browser app sends it: supabase-js' captchaToken option against the gateway
// that checks it (scripts/gateway.sh), on every route Supabase Auth protects.
async function captchaInBrowser(page, email) {
  const siteverify = await startSiteverify(Number(process.env.CAPTCHA_SITEVERIFY_PORT));
  try {
    const outcomes = await page.evaluate(async (base, existing) => {
      const { anonKey } = window.AUTH_EXT;
      const client = () => window.supabase.createClient(base, anonKey, { auth: { persistSession: false, autoRefreshToken: false } });
      const fresh = `captcha-browser-${Date.now()}@example.com`;
      const routes = [
        (t) => client().auth.signUp({ email: fresh, password: 'browser captcha passphrase', options: { captchaToken: t } }),
        (t) => client().auth.signInAnonymously({ options: { captchaToken: t } }),
        (t) => client().auth.signInWithPassword({ email: existing, password: 'wrong on purpose', options: { captchaToken: t } }),
        (t) => client().auth.signInWithOtp({ email: existing, options: { captchaToken: t } }),
        (t) => client().auth.resetPasswordForEmail(existing, { captchaToken: t }),
        (t) => client().auth.resend({ type: 'signup', email: fresh, options: { captchaToken: t } }),
      ];
      const out = [];
      for (const [i, route] of routes.entries()) {
        const without = await route(undefined);
        const withToken = await route(`pass-browser-${Date.now()}-${i}`);
        out.push([without.error?.code ?? null, withToken.error?.code ?? null]);
      }
      return out;
    }, process.env.CAPTCHA_BASE_URL, email);
    // With a token, the password sign-in gets past the CAPTCHA to the wrong password.
    check('CAPTCHA in Chromium: each protected route refuses a request without captchaToken and takes one with it',
      [['captcha_failed', null], ['captcha_failed', null], ['captcha_failed', 'invalid_credentials'], ['captcha_failed', null], ['captcha_failed', null], ['captcha_failed', null]],
      outcomes);
  } finally {
    await siteverify.close();
  }
}

// "Sign in with …" against a real OpenID provider (oidc_local.mjs): a guest links it and
// becomes permanent with its todos, signs out and back in through it; another visitor
// signs up through it with PKCE (?flow=pkce, as @supabase/ssr runs it).
async function socialJourney(browser, pageErrors) {
  const publicAuth = sql(`select current_setting('auth_ext.api_external_url')`);
  const op = await startOidc({ callback: `${publicAuth}/callback` });
  sql(`select auth.admin_create_oauth_provider(${literal(JSON.stringify({ provider: 'custom:local', kind: 'oidc',
    issuer: op.issuer, client_id: op.clientId, client_secret: op.clientSecret, scopes: 'email profile' }))})`);
  const context = await browser.createBrowserContext();
  try {
    const probe = await openApp(context, pageErrors);
    const gateway = await probe.evaluate(() => window.AUTH_EXT.url);
    await probe.close();
    const page = await openApp(context, pageErrors, { publicAuth, gateway });
    await page.waitForSelector('#sign-in-with-custom-local');
    await page.click('#guest');
    let s = await until(page, 'the guest', (x) => x.error || (x.who === 'anonymous' && x.listFor === x.userId));
    const guest = s.userId;
    s = await addTodo(page, 'plant tomatoes', 1);
    const email = `browser-oidc-${Date.now()}@example.com`;
    op.account('dora', { email, email_verified: true, name: 'Dora' });
    op.signInAs('dora');
    await page.click('#link-custom-local');
    s = await until(page, 'the linked identity', (x) => x.error || (x.who === email && x.listFor === x.userId));
    must('linkIdentity from a guest: back with the same user, now permanent with the provider\'s email', [guest, email, ''],
      [s.userId, s.who, s.error]);
    check('linkIdentity: the todos are kept, the identity is there', [['plant tomatoes'], 'custom:local'],
      [s.todos.map((t) => t.task), await page.$eval('#who', (w) => w.dataset.providers.split(' ').find((p) => p === 'custom:local') ?? '')]);

    await page.click('#sign-out');
    await until(page, 'the sign-out', (x) => x.who === 'signed out');
    await page.click('#sign-in-with-custom-local');
    s = await until(page, 'the sign-in through the provider', (x) => x.error || (x.who === email && x.listFor === x.userId));
    check('"Sign in with Local" (implicit): the same user and todos', [guest, ['plant tomatoes'], ''],
      [s.userId, s.todos.map((t) => t.task), s.error]);

    const other = await browser.createBrowserContext();
    try {
      const pkce = await openApp(other, pageErrors, { path: '?flow=pkce', publicAuth, gateway });
      await pkce.waitForSelector('#sign-in-with-custom-local');
      const newcomer = `browser-oidc-new-${Date.now()}@example.com`;
      op.account('evan', { email: newcomer, email_verified: true, name: 'Evan' });
      op.signInAs('evan');
      await pkce.click('#sign-in-with-custom-local');
      const p = await until(pkce, 'the PKCE sign-up', (x) => x.error || x.who === newcomer);
      check('"Sign in with Local" with PKCE: a new user, signed up through the provider', [newcomer, true, ''],
        [p.who, p.userId !== guest && p.userId !== '', p.error]);
      check('PKCE: the app got ?code=, never a token in the URL', [false, false],
        await pkce.evaluate(() => [location.hash.includes('access_token'), location.search.includes('access_token')]));
    } finally {
      await other.close();
    }
  } finally {
    await context.close();
    sql(`delete from auth.oauth_providers where provider = 'custom:local'`);
    await op.close();
  }
}

function printConsole() {
  for (const m of consoleErrors) console.log(`# browser console: ${m}`);
}

main().catch((e) => {
  if (!(e instanceof Stop)) crashed(e);
  printConsole();
  finish('browser');
});
