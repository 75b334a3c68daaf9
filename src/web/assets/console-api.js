// The console's one way to the admin API: JSON (or CSV) over fetch with the staff token from
// sessionStorage, every error answer turned into words in the page's language, and the small
// DOM helpers the screens share.
import { root, t } from './api.js';

export { t };

const TOKEN_KEY = 'customer-area-staff-token';

/** The staff session token of this browser tab, if signed in. */
export function staffToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setStaffToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Called when an answer says the staff session is over (set by console.js). */
let onSessionEnded = () => {};
export function whenSessionEnds(handler) {
  onSessionEnded = handler;
}

/** Calls `method path`; `body` is JSON, or sent as is with `type`. Answers
 * {ok, status, data, text, retryAfter}; `text` holds a non-JSON answer (a CSV export). */
export async function admin(method, path, body, type) {
  const headers = { Accept: 'application/json, text/csv' };
  const token = staffToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = type || 'application/json';
    payload = type ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(new URL(path, root), {
      method, headers, body: payload, credentials: 'omit', cache: 'no-store',
    });
  } catch {
    return { ok: false, status: 0, data: { error: 'network' } };
  }
  const raw = await response.text().catch(() => '');
  let data = {};
  try {
    data = raw ? JSON.parse(raw) : {};
  } catch {
    data = {};
  }
  const result = {
    ok: response.ok,
    status: response.status,
    data,
    text: raw,
    retryAfter: Number(response.headers.get('Retry-After')) || 0,
  };
  if (token && response.status === 401 && data.error === 'unauthenticated') onSessionEnded();
  return result;
}

/** Words for an error answer, in the page's language. */
export function explain(result) {
  const { status, data } = result;
  const known = {
    network: 'error_unreachable',
    invalid_credentials: 'error_wrong_credentials',
    invalid_code: 'error_wrong_code',
    unauthenticated: 'session_over',
    forbidden: 'error_forbidden',
    second_factor_enrollment_required: 'error_enroll_first',
    passkey_required: 'error_passkey_required',
    not_found: 'error_not_found',
    conflict: 'error_conflict',
    last_owner: 'error_last_owner',
    throttled: 'error_throttled_console',
    method_not_allowed: 'error_not_here',
  };
  if (known[data.error]) return t(known[data.error]);
  if (status === 503) return t('error_busy_console');
  if (status >= 500 || status === 0) return t('error_server_console');
  if (data.fields && Object.keys(data.fields).length) {
    return Object.entries(data.fields).map(([name, problem]) => `${name}: ${problem}`).join(' ');
  }
  if (data.message) return String(data.message);
  return t('error_failed', { status });
}

/** Shows an error answer in `form` (its `.form-error`, and each field's slot) and focuses it. */
export function showProblem(container, result) {
  clear(container);
  const fields = (result.data && result.data.fields) || {};
  let first = null;
  const rest = [];
  for (const [name, problem] of Object.entries(fields)) {
    const slot = container.querySelector(`[data-error-for="${name}"]`);
    const input = container.elements && container.elements.namedItem(name);
    if (slot && input && input.setAttribute) {
      // A wrong code is said in the page's language; other problems as the server words them.
      slot.textContent = result.data.error === 'invalid_code' ? explain(result) : problem;
      input.setAttribute('aria-invalid', 'true');
      first = first || input;
    } else {
      rest.push(`${name}: ${problem}`);
    }
  }
  const top = container.querySelector('.form-error');
  if (top && (rest.length || !first)) {
    top.textContent = first ? rest.join(' ') : explain(result);
  }
  if (first) first.focus();
  else if (top) top.focus();
}

/** Removes the errors and the status a form or section shows. */
export function clear(container) {
  for (const el of container.querySelectorAll('.field-error, .form-error, .status')) el.textContent = '';
  for (const el of container.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/** Shows `text` in the container's status line. */
export function say(container, text) {
  const status = container.querySelector('.status');
  if (status) status.textContent = text;
}

/** An element with children (strings become text). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'onclick') node.addEventListener('click', value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A table with a caption, one header row from `columns` ([key, text]) and one row per item;
 * a cell is `render[key](item)` or the item's value. Wrapped so it scrolls on its own. */
export function table(caption, columns, items, render = {}) {
  if (!items.length) return el('p', { class: 'empty' }, t('nothing_yet'));
  const head = el('tr', {}, columns.map(([, text]) => el('th', { scope: 'col' }, text)));
  const rows = items.map((item) => el('tr', {}, columns.map(([key]) => {
    const value = render[key] ? render[key](item) : item[key];
    return el('td', {}, value === undefined || value === null ? '' : value);
  })));
  return el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    el('table', {}, el('caption', {}, caption), el('thead', {}, head), el('tbody', {}, rows)));
}

/** A moment as the page's language writes it. */
export function when(value) {
  if (!value) return '';
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(document.documentElement.lang, { dateStyle: 'medium', timeStyle: 'short' });
}

/** The first array in an answer (`{"emails":[...]}`, `{"deliveries":[...]}`, or the array). */
export function rowsOf(data) {
  if (Array.isArray(data)) return data;
  const found = Object.values(data || {}).find(Array.isArray);
  return found || [];
}

/** Disables `button` (or a form's submit button) while `work` runs. */
export async function busy(target, work) {
  const button = target.tagName === 'FORM' ? target.querySelector('button[type=submit]') : target;
  if (button) button.disabled = true;
  target.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    if (button) button.disabled = false;
    target.removeAttribute('aria-busy');
  }
}

/** Offers `text` as a file download named `name` through the link `a`. */
export function offerDownload(a, name, text, type = 'text/plain') {
  if (a.href.startsWith('blob:')) URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
}

/** The page's word for a value the API names (`status_active`, `state_failed`), or the value
 * itself when the page has none. */
export function word(prefix, value) {
  const key = `${prefix}_${value}`;
  const text = t(key);
  return text === key ? String(value) : text;
}

/** A message for the next screen shown (after a deletion that leaves the customer's page). */
let flashed = '';
export function flash(text) {
  flashed = text;
}
export function takeFlash() {
  const text = flashed;
  flashed = '';
  return text;
}
