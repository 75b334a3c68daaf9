// The one place the pages talk to the customer area's public HTTP API, exactly as a shop's
// own front end would: JSON over fetch, the token in sessionStorage (never a cookie or URL),
// every error turned into words next to its field or at the top of its form.

/** The server's root, wherever a proxy mounts it: this file lives at <root>assets/<v>/api.js. */
export const root = new URL('../../', import.meta.url);

const TOKEN_KEY = 'customer-area-token';

/** The session token of this browser tab, if signed in. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Calls `method path` with an optional JSON body; returns {ok, status, data, retryAfter}. */
export async function call(method, path, body, auth = false) {
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

/** "in 2 minutes", "in 30 seconds": when to try again after a 429 or 503. */
function waitWords(seconds) {
  if (!seconds) return 'in a moment';
  if (seconds < 90) return `in ${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 90) return `in ${minutes} minutes`;
  return `in ${Math.ceil(minutes / 60)} hours`;
}

/** Words a customer understands for an error answer that names no field. */
export function describe(result) {
  const { status, data } = result;
  switch (data.error) {
    case 'network':
      return 'The customer area cannot be reached. Check your connection and try again.';
    case 'invalid_credentials':
      return 'This email address and password do not match an active account. '
        + 'If you have just been invited, open the activation link in your email first.';
    case 'invalid_code':
      return 'This link is no longer valid: it has expired, was already used, or was mistyped.';
    case 'unauthenticated':
      return 'Your session has ended. Please sign in again.';
    default:
  }
  if (status === 429) return `Too many attempts. Please try again ${waitWords(result.retryAfter)}.`;
  if (status === 503) return `We are very busy right now. Please try again ${waitWords(result.retryAfter)}.`;
  if (status >= 500) return 'Something went wrong on our side. Please try again later.';
  if (status === 422 && data.message) return capitalise(data.message);
  if (status === 401) return 'Your session has ended. Please sign in again.';
  return data.message ? capitalise(data.message) : 'That did not work. Please try again.';
}

function capitalise(text) {
  const t = String(text);
  const sentence = t.charAt(0).toUpperCase() + t.slice(1);
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
