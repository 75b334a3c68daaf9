// Password reset: POST customers/do_reset with the email and the code from this page's URL,
// then verify the answer's JWT (HS256, keyed with the code's bytes) with WebCrypto before
// reading the new passphrase out of it. A JWT that does not verify is never shown.
import { busy, call, clearErrors, describe, root, setToken, showErrors, t, values } from './api.js';

const form = document.getElementById('reset-form');
const top = form.querySelector('.form-error');
const code = decodeURIComponent(window.location.pathname.split('/').filter(Boolean).pop() || '');
let email = '';

function base64url(text) {
  const padded = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

/** The claims of `jwt` if its HS256 signature verifies with `key`; otherwise an Error. */
export async function verifyJwt(jwt, key) {
  const parts = String(jwt).split('.');
  if (parts.length !== 3) throw new Error('not a JWT');
  const header = JSON.parse(new TextDecoder().decode(base64url(parts[0])));
  if (header.alg !== 'HS256') throw new Error('unexpected algorithm');
  const hmacKey = await crypto.subtle.importKey('raw', new TextEncoder().encode(key),
    { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
  const valid = await crypto.subtle.verify('HMAC', hmacKey, base64url(parts[2]), signed);
  if (!valid) throw new Error('the signature does not verify');
  return JSON.parse(new TextDecoder().decode(base64url(parts[1])));
}

if (!/^[0-9A-Z]{10}$/.test(code)) {
  top.textContent = t('reset_link_incomplete');
}
if (!window.crypto || !crypto.subtle) {
  top.textContent = t('reset_needs_https');
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(form);
  ({ email } = values(form, ['email']));
  const result = await busy(form, () => call('POST', 'customers/do_reset', { email: email.trim(), code }));
  if (!result.ok) {
    showErrors(form, result);
    return;
  }
  let claims;
  try {
    claims = await verifyJwt(result.data.token, code);
  } catch {
    claims = null;
  }
  if (!claims || typeof claims.passphrase !== 'string') {
    top.textContent = t('reset_unverified');
    top.focus();
    return;
  }
  form.hidden = true;
  document.getElementById('passphrase').textContent = claims.passphrase;
  const done = document.getElementById('reset-done');
  done.hidden = false;
  done.focus();
});

document.getElementById('copy-passphrase').addEventListener('click', async () => {
  const status = document.getElementById('copy-status');
  try {
    await navigator.clipboard.writeText(document.getElementById('passphrase').textContent);
    status.textContent = 'Copied.';
  } catch {
    const range = document.createRange();
    range.selectNodeContents(document.getElementById('passphrase'));
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    status.textContent = t('copy_by_hand');
  }
});

document.getElementById('reset-signin').addEventListener('click', async () => {
  const slot = document.getElementById('reset-signin-error');
  const password = document.getElementById('passphrase').textContent;
  const result = await call('POST', 'customers/login', { email: email.trim(), password });
  if (!result.ok) {
    slot.textContent = describe(result);
    slot.focus();
    return;
  }
  setToken(result.data.token);
  window.location.assign(new URL('./#password-form', root));
});
