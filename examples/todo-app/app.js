// The todo app: supabase-js as it ships, in front of auth_ext's gateway. A visitor starts
// as a guest (an anonymous user), keeps the todos by adding an email, sets a password and
// can then sign in again anywhere. Row-level security keeps each user's todos their own.
const { url, anonKey } = window.AUTH_EXT;
// ?flow=pkce runs sign-in through providers as @supabase/ssr does (?code= on the way back).
const flowType = new URLSearchParams(location.search).get('flow') === 'pkce' ? 'pkce' : 'implicit';
const supabase = window.supabase.createClient(url, anonKey, { auth: { flowType } });
window.todoApp = { supabase }; // for the browser test and the console

const $ = (id) => document.getElementById(id);
let user = null; // the signed-in user, or null
let pendingEmail = null; // an email waiting for its code
let aal = { currentLevel: null, nextLevel: null }; // the session's assurance level, and what it can reach

// A supabase-js result's data, or its error thrown.
function ok({ data, error }) {
  if (error) throw error;
  return data;
}

function show(error, notice = '') {
  $('error').textContent = error ? `${error.code ?? error.name ?? 'error'}: ${error.message}` : '';
  $('notice').textContent = notice;
}

// Runs an action with its control disabled; what it returns is a notice, what it throws an error.
async function act(control, action) {
  control.disabled = true;
  show(null);
  try {
    show(null, (await action()) ?? '');
  } catch (e) {
    show(e);
  } finally {
    control.disabled = false;
  }
}

function render() {
  // A user with two-factor on who signed in with the password alone is asked for the code first.
  const needsCode = !!user && aal.currentLevel === 'aal1' && aal.nextLevel === 'aal2';
  $('second-factor-view').hidden = !needsCode;
  $('who').dataset.aal = aal.currentLevel ?? '';
  $('two-factor-section').hidden = !user || user.is_anonymous || needsCode || (user.factors ?? []).some((f) => f.status === 'verified');
  $('who').textContent = !user ? 'signed out' : user.is_anonymous ? 'anonymous' : user.email ?? user.phone ?? user.id;
  $('status-label').hidden = !user;
  $('user-id').textContent = user?.id ?? '';
  $('signed-out-view').hidden = !!user;
  $('signed-in-view').hidden = !user || needsCode;
  $('email-section').hidden = !user || !!user.email;
  $('verify-form').hidden = !(pendingEmail ?? user?.new_email);
  $('password-section').hidden = !user?.email;
  $('link-section').hidden = !user || !Number($('link-section').dataset.offered ?? 0);
  $('who').dataset.providers = (user?.identities ?? []).map((i) => i.provider).join(' ');
}

// #todos carries the user it lists (data-for) and how many loads it has seen (data-loads).
async function loadTodos() {
  const list = $('todos');
  const forUser = user?.id;
  const todos = forUser ? ok(await supabase.from('todos').select('id, task, is_complete').order('id')) : [];
  if (user?.id !== forUser) return; // signed out or in meanwhile
  list.replaceChildren(...todos.map(todoItem));
  list.dataset.for = forUser ?? '';
  list.dataset.loads = Number(list.dataset.loads ?? 0) + 1;
  $('todo-count').textContent = forUser ? `${todos.length} todo${todos.length === 1 ? '' : 's'}` : '';
}

function todoItem(todo) {
  const li = Object.assign(document.createElement('li'), { id: `todo-${todo.id}` });
  li.classList.toggle('done', todo.is_complete);
  const box = Object.assign(document.createElement('input'), {
    type: 'checkbox', id: `toggle-${todo.id}`, checked: todo.is_complete, title: 'Done',
  });
  const task = Object.assign(document.createElement('span'), { className: 'task', textContent: todo.task });
  const del = Object.assign(document.createElement('button'), { id: `delete-${todo.id}`, textContent: '✕', title: 'Delete' });
  box.onchange = () => act(box, async () => {
    ok(await supabase.from('todos').update({ is_complete: box.checked }).eq('id', todo.id));
    await loadTodos();
  });
  del.onclick = () => act(del, async () => {
    ok(await supabase.from('todos').delete().eq('id', todo.id));
    await loadTodos();
  });
  li.append(box, task, del);
  return li;
}

// Re-render on every auth event. supabase-js is called again only after the callback
// has returned, as its docs advise.
supabase.auth.onAuthStateChange((event, session) => {
  setTimeout(async () => {
    const next = session?.user ?? null;
    const changed = next?.id !== user?.id;
    user = next;
    aal = (await supabase.auth.mfa.getAuthenticatorAssuranceLevel()).data ?? aal;
    if (changed) {
      pendingEmail = null;
      $('todos').replaceChildren();
      $('todos').dataset.for = '';
    }
    render();
    if (changed || event === 'SIGNED_IN' || event === 'MFA_CHALLENGE_VERIFIED') loadTodos().catch((e) => show(e));
  }, 0);
});

// A submitted form runs its action, with its button disabled.
function onSubmit(form, button, action) {
  $(form).addEventListener('submit', (e) => {
    e.preventDefault();
    act($(button), action);
  });
}

// "Sign in with …" and "Link …" for each provider the server offers (GET /settings).
const BUILT_IN = ['email', 'phone', 'anonymous_users'];
const label = (provider) => provider.replace(/^custom:/, '').replace(/^./, (c) => c.toUpperCase());
const back = () => `${location.origin}${location.pathname}${flowType === 'pkce' ? '?flow=pkce' : ''}`;
async function offerProviders() {
  const res = await fetch(`${url}/auth/v1/settings`, { headers: { apikey: anonKey } });
  const { external = {} } = await res.json();
  const offered = Object.keys(external).filter((p) => external[p] && !BUILT_IN.includes(p));
  const button = (prefix, text, provider, action) => {
    const b = Object.assign(document.createElement('button'), { id: `${prefix}-${provider.replace(':', '-')}`, textContent: text, className: 'quiet' });
    b.onclick = () => act(b, () => action(provider));
    return b;
  };
  $('providers').replaceChildren(...offered.map((p) => button('sign-in-with', `Sign in with ${label(p)}`, p,
    async (provider) => { ok(await supabase.auth.signInWithOAuth({ provider, options: { redirectTo: back() } })); })));
  $('link-providers').replaceChildren(...offered.map((p) => button('link', `Link ${label(p)}`, p,
    async (provider) => { ok(await supabase.auth.linkIdentity({ provider, options: { redirectTo: back() } })); })));
  $('link-section').dataset.offered = offered.length;
  render();
}
offerProviders().catch((e) => show(e));

// Two-factor: enroll a TOTP factor, show its QR code and key, turn it on with a first code;
// at the next sign-in the code is asked for after the password.
let enrolling = null;
$('enable-2fa').onclick = () => act($('enable-2fa'), async () => {
  const factor = ok(await supabase.auth.mfa.enroll({ factorType: 'totp', friendlyName: `Authenticator ${Date.now()}` }));
  enrolling = factor.id;
  $('totp-qr').src = factor.totp.qr_code;
  $('totp-secret').textContent = factor.totp.secret;
  $('totp-setup').hidden = false;
  return 'Scan the code, then enter the 6 digits your app shows.';
});
onSubmit('totp-form', 'verify-2fa', async () => {
  ok(await supabase.auth.mfa.challengeAndVerify({ factorId: enrolling, code: $('totp-code').value.trim() }));
  $('totp-setup').hidden = true;
  $('totp-code').value = '';
  return 'Two-factor authentication is on.';
});
onSubmit('mfa-form', 'mfa-verify', async () => {
  const { totp } = ok(await supabase.auth.mfa.listFactors());
  ok(await supabase.auth.mfa.challengeAndVerify({ factorId: totp[0].id, code: $('mfa-code').value.trim() }));
  $('mfa-code').value = '';
});

$('guest').onclick = () => act($('guest'), async () => {
  ok(await supabase.auth.signInAnonymously());
});
onSubmit('sign-in-form', 'sign-in', async () => {
  ok(await supabase.auth.signInWithPassword({ email: $('sign-in-email').value.trim(), password: $('sign-in-password').value }));
  $('sign-in-password').value = '';
});
onSubmit('add-form', 'add', async () => {
  ok(await supabase.from('todos').insert({ task: $('new-task').value.trim() }));
  $('new-task').value = '';
  await loadTodos();
});
$('refresh').onclick = () => act($('refresh'), loadTodos);
onSubmit('email-form', 'add-email', async () => {
  const email = $('email').value.trim();
  ok(await supabase.auth.updateUser({ email }));
  pendingEmail = email;
  render();
  return `We sent a 6-digit code to ${email}.`;
});
onSubmit('verify-form', 'verify', async () => {
  const email = pendingEmail ?? user?.new_email;
  ok(await supabase.auth.verifyOtp({ email, token: $('code').value.trim(), type: 'email_change' }));
  pendingEmail = null;
  $('code').value = '';
  return `${email} is verified: your todos are yours to keep.`;
});
onSubmit('password-form', 'set-password', async () => {
  ok(await supabase.auth.updateUser({ password: $('password').value }));
  $('password').value = '';
  return 'Password set.';
});
$('sign-out').onclick = () => act($('sign-out'), async () => {
  ok(await supabase.auth.signOut());
});
