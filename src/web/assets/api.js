// The one place the pages talk to the customer area's public HTTP API, exactly as a shop's
// own front end would: JSON over fetch, the token in sessionStorage (never a cookie or URL),
// every error turned into words next to its field or at the top of its form.

/** The server's root, wherever a proxy mounts it: this file lives at <root>assets/<v>/api.js. */
export const root = new URL('../../', import.meta.url);

const TOKEN_KEY = 'customer-area-token';

/** The page's texts in its language: the server writes them into a <meta> as JSON. */
const TEXTS = JSON.parse(document.querySelector('meta[name="page-texts"]')?.content || '{}');

/** The text `key` in the page's language, each `{name}` in it replaced by `vars[name]`. */
export function t(key, vars = {}) {
  const text = TEXTS[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** The session token of this browser tab, if signed in. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Calls `method path` with an optional JSON body; returns {ok, status, data, retryAfter}.
 * With `auth`, an answer that asks for a recent sign-in (403 reauthentication_required) asks
 * the customer for their password in place, then sends the same request once more. */
export async function call(method, path, body, auth = false) {
  const result = await send(method, path, body, auth);
  if (auth && result.status === 403 && result.data.error === 'reauthentication_required'
      && await reauthenticate()) {
    return send(method, path, body, auth);
  }
  return result;
}

async function send(method, path, body, auth) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth && token()) headers.Authorization = `Bearer ${token()}`;
  let response;
  try {
    response = await fetch(new URL(path, root), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    return { ok: false, status: 0, data: { error: 'network' } };
  }
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = {};
  }
  return {
    ok: response.ok,
    status: response.status,
    data,
    retryAfter: Number(response.headers.get('Retry-After')) || 0,
  };
}

/** Asks for the password in the page's dialog #reauth (input #reauth-password, errors
 * #reauth-error, button #reauth-cancel) and proves it (POST customers/reauthenticate) until it
 * is right; false when the customer cancels or the page has no such dialog. */
function reauthenticate() {
  const dialog = document.getElementById('reauth');
  if (!dialog) return Promise.resolve(false);
  const form = dialog.querySelector('form');
  const input = form.elements.namedItem('password');
  const error = document.getElementById('reauth-error');
  return new Promise((resolve) => {
    const finish = (proved) => {
      form.removeEventListener('submit', submit);
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      input.value = '';
      resolve(proved);
    };
    const submit = async (event) => {
      event.preventDefault();
      error.textContent = '';
      const answer = await busy(form, () => send('POST', 'customers/reauthenticate', { password: input.value }, true));
      if (answer.ok) finish(true);
      else {
        error.textContent = answer.data.error === 'invalid_credentials' ? t('reauth_wrong') : describe(answer);
        input.select();
      }
    };
    form.addEventListener('submit', submit);
    document.getElementById('reauth-cancel').onclick = () => finish(false);
    dialog.onclose = () => finish(false);
    error.textContent = '';
    dialog.showModal();
    input.focus();
  });
}

/** "in 2 minutes", "in 30 seconds": when to try again after a 429 or 503. */
function waitWords(seconds) {
  if (!seconds) return t('wait_moment');
  if (seconds === 1) return t('wait_second');
  if (seconds < 90) return t('wait_seconds', { n: seconds });
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 90) return t('wait_minutes', { n: minutes });
  return t('wait_hours', { n: Math.ceil(minutes / 60) });
}

/** Words a customer understands for an error answer that names no field. */
export function describe(result) {
  const { status, data } = result;
  switch (data.error) {
    case 'network':
      return t('error_network');
    case 'invalid_credentials':
      return t('error_credentials');
    case 'invalid_code':
      return t('error_code');
    case 'unauthenticated':
      return t('session_ended');
    default:
  }
  if (status === 429) return t('error_throttled', { when: waitWords(result.retryAfter) });
  if (status === 503) return t('error_busy', { when: waitWords(result.retryAfter) });
  if (status >= 500) return t('error_server');
  if (status === 422 && data.message) return capitalise(data.message);
  if (status === 401) return t('session_ended');
  return data.message ? capitalise(data.message) : t('error_other');
}

function capitalise(text) {
  const words = String(text);
  const sentence = words.charAt(0).toUpperCase() + words.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

/** Removes the errors a form shows. */
export function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error, .form-error')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  const status = form.querySelector('.status');
  if (status) status.textContent = '';
}

/** Shows an error answer: each `fields` entry next to its input, the rest at the top. */
export function showErrors(form, result) {
  clearErrors(form);
  const fields = (result.data && result.data.fields) || {};
  let unplaced = [];
  let first = null;
  for (const [name, problem] of Object.entries(fields)) {
    const input = form.elements.namedItem(name);
    const slot = form.querySelector(`[data-error-for="${name}"]`);
    if (input && slot && input.setAttribute) {
      input.setAttribute('aria-invalid', 'true');
      slot.textContent = capitalise(problem);
      first = first || input;
    } else {
      unplaced.push(capitalise(problem));
    }
  }
  const top = form.querySelector('.form-error');
  // A code or key from a link has no input to show its problem next to.
  if (!Object.keys(fields).length || result.data.error === 'invalid_code') unplaced = [describe(result)];
  if (top && unplaced.length) top.textContent = unplaced.join(' ');
  if (first) first.focus();
  else if (top) top.focus();
  if (result.status === 401 && form.dataset.auth === 'true') {
    setToken(null);
  }
}

/** The lists of a `GET subscriptions` answer. */
export function listsOf(result) {
  return Array.isArray(result.data) ? result.data : (result.data.subscriptions || []);
}

/** Fills `container` with one switch per list (name `subscriptions`, id `prefix` + list id),
 * on where `chosen` has the list's id. */
export function listSwitches(container, lists, chosen, prefix) {
  container.replaceChildren();
  for (const item of lists) {
    const label = document.createElement('label');
    label.className = 'switch';
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.setAttribute('role', 'switch');
    input.name = 'subscriptions';
    input.value = item.id;
    input.id = `${prefix}${item.id}`;
    input.checked = chosen.has(item.id);
    label.append(input, document.createTextNode(item.name || item.id));
    container.append(label);
  }
}

/** Disables the form's submit button while `work` runs. */
export async function busy(form, work) {
  const button = form.querySelector('button[type=submit]');
  if (button) button.disabled = true;
  form.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    if (button) button.disabled = false;
    form.removeAttribute('aria-busy');
  }
}

/** Shows a success message in the form's status line. */
export function showStatus(form, text) {
  const status = form.querySelector('.status');
  if (status) status.textContent = text;
}

/** The values of a form's named inputs, as the API's JSON keys. */
export function values(form, names) {
  const out = {};
  for (const name of names) out[name] = form.elements.namedItem(name).value;
  return out;
}

/** A query parameter of this page's URL. */
export function param(name) {
  return new URLSearchParams(window.location.search).get(name) || '';
}
