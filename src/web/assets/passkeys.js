// Passkeys: "Sign in with a passkey" on the sign-in page, and on the account page the list of
// the customer's passkeys with a remove button each and "Add a passkey".
// POST customers/passkey_login(/finish), GET/POST/DELETE customers/passkeys(...).
// Shown only where the server has passkeys on and the browser supports WebAuthn.
import { busy, call, clearErrors, showStatus, t } from './api.js';
import { WAYS } from './sign-in-ways.js';
import { createCredential, getCredential } from './webauthn.js';

/** Every text these pages show about passkeys, in one place. */
const TEXTS = {
  none: t('passkey_none'),
  added: t('passkey_added'),
  removed: t('passkey_removed'),
  cancelled: t('passkey_cancelled'),
  refused: t('passkey_refused'),
  created: (when) => t('passkey_created', { when }),
  lastUsed: (when) => t('passkey_last_used', { when }),
  neverUsed: t('passkey_never_used'),
  remove: t('passkey_remove'),
  removeLabel: (name) => t('passkey_remove_label', { name }),
};

/** Whether passkeys can be used here: the server offers them and the browser has WebAuthn. */
export const passkeysAvailable = WAYS.passkey;

const form = document.getElementById('passkeys-form');
let handle = () => {};

/**
 * Signs in with a passkey the browser offers: {ok, status, data} as `call` answers, the
 * token in `data.token`; {cancelled: true} when the customer closed the dialog.
 */
export async function signInWithPasskey() {
  const begun = await call('POST', 'customers/passkey_login', {});
  if (!begun.ok) return begun;
  const credential = await getCredential(begun.data.options);
  if (!credential) return { ok: false, cancelled: true, status: 0, data: {}, message: TEXTS.cancelled };
  return call('POST', 'customers/passkey_login/finish', {
    challenge_id: begun.data.challenge_id,
    credential,
  });
}

function when(text) {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toLocaleString();
}

async function fillPasskeys() {
  const result = await call('GET', 'customers/passkeys', undefined, true);
  if (!result.ok) {
    handle(form, result);
    return;
  }
  const list = document.getElementById('passkeys-list');
  list.replaceChildren();
  for (const passkey of result.data.passkeys) {
    const item = document.createElement('li');
    const text = document.createElement('span');
    const title = document.createElement('strong');
    title.textContent = passkey.name;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = TEXTS.created(when(passkey.created_at))
      + (passkey.last_used_at ? TEXTS.lastUsed(when(passkey.last_used_at)) : TEXTS.neverUsed);
    text.append(title, meta);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary';
    button.dataset.passkey = passkey.id;
    button.textContent = TEXTS.remove;
    button.setAttribute('aria-label', TEXTS.removeLabel(passkey.name));
    item.append(text, button);
    list.append(item);
  }
  const none = document.getElementById('passkeys-none');
  none.textContent = TEXTS.none;
  none.hidden = result.data.passkeys.length > 0;
}

/** Shows the passkeys of the signed-in customer (when passkeys are available here). */
export async function showPasskeys(onError) {
  handle = onError;
  form.hidden = !passkeysAvailable;
  if (passkeysAvailable) await fillPasskeys();
}

async function addPasskey() {
  const begun = await call('POST', 'customers/passkeys/register', {}, true);
  if (!begun.ok) return begun;
  const credential = await createCredential(begun.data.options);
  if (!credential) return { ok: false, cancelled: true };
  const body = { challenge_id: begun.data.challenge_id, credential };
  const name = form.elements.namedItem('name').value.trim();
  if (name) body.name = name;
  return call('POST', 'customers/passkeys/register/finish', body, true);
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(form);
  const result = await busy(form, addPasskey);
  if (result.cancelled) {
    form.querySelector('.form-error').textContent = TEXTS.cancelled;
    return;
  }
  if (!result.ok) {
    handle(form, result);
    return;
  }
  form.elements.namedItem('name').value = '';
  await fillPasskeys();
  showStatus(form, TEXTS.added);
});

form.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-passkey]');
  if (!button) return;
  clearErrors(form);
  const result = await busy(form,
    () => call('DELETE', `customers/passkeys/${encodeURIComponent(button.dataset.passkey)}`, undefined, true));
  if (!result.ok) {
    handle(form, result);
    return;
  }
  await fillPasskeys();
  showStatus(form, TEXTS.removed);
});

export { TEXTS as PASSKEY_TEXTS };
