// The professional's space: sign in (password + TOTP), list one's acts,
// read a trace. The session lives in an HttpOnly cookie the script never
// sees; every read is recorded server-side in the access log.
import { errorText } from "/i18n.js";

const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  return { status: res.status, data };
}

function show(signedIn) {
  $('signin').hidden = signedIn;
  $('acts').hidden = !signedIn;
  $('signout').hidden = !signedIn;
  if (!signedIn) $('trace').hidden = true;
}

async function loadActs() {
  const who = await api('GET', '/api/session');
  if (who.status !== 200) { show(false); return; }
  show(true);
  $('whoami').textContent = `${who.data.login} (${who.data.role})`;
  const { status, data } = await api('GET', '/api/acts');
  const list = $('act-list');
  list.replaceChildren();
  if (status !== 200) return;
  $('acts-empty').hidden = data.acts.length > 0;
  for (const act of data.acts) {
    const li = document.createElement('li');
    li.textContent = `${act.requested_at ?? ''} ${act.kind} — ${act.phase} `;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'secondary';
    b.textContent = 'Trace';
    // Each button names its act: a list of « Trace » alone says nothing.
    b.setAttribute('aria-label', `Trace : ${li.textContent.trim()}`);
    b.addEventListener('click', () => loadTrace(act.id));
    li.append(b);
    list.append(li);
  }
}

async function loadTrace(id) {
  const { status, data } = await api('GET', `/api/acts/${encodeURIComponent(id)}/trace`);
  if (status !== 200) return;
  $('trace').hidden = false;
  $('trace-act').textContent = id;
  $('trace-title').focus();
  const ol = $('trace-events');
  ol.replaceChildren();
  for (const e of data.events) {
    const li = document.createElement('li');
    li.textContent = `${e.at} ${e.kind}`;
    ol.append(li);
  }
}

$('signin').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const err = $('signin-error');
  err.hidden = true;
  const { status, data } = await api('POST', '/api/session', {
    login: $('login').value,
    password: $('password').value,
    totp: $('totp').value,
  });
  $('password').value = '';
  $('totp').value = '';
  if (status === 200) { await loadActs(); $('acts-title').focus(); return; }
  // The server's code, in the page's language (its sentence is English).
  err.textContent = errorText(document.documentElement.lang, { code: data?.code, status });
  err.hidden = false;
});

$('signout').addEventListener('click', async () => {
  await api('DELETE', '/api/session');
  show(false);
  $('signin-title').focus();
});

loadActs();
