// Passkeys: "Sign in with a passkey" on the sign-in page, and on the account page the list of
// the customer's passkeys with a remove button each and "Add a passkey".
// POST customers/passkey_login(/finish), GET/POST/DELETE customers/passkeys(...).
// Shown only where the server has passkeys on and the browser supports WebAuthn.
import { busy, call, clearErrors, showStatus, t } from './api.js';
import { WAYS } from './sign-in-ways.js';

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

function toBytes(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function toText(buffer) {
  let binary = '';
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function withIds(list) {
  return (list || []).map((c) => ({ ...c, id: toBytes(c.id) }));
}

/** The browser's credential as the API takes it: binary values in base64url. */
function credentialJson(credential) {
  const r = credential.response;
  const response = { clientDataJSON: toText(r.clientDataJSON) };
  const extensions = credential.getClientExtensionResults();
  const out = { id: credential.id, rawId: toText(credential.rawId), type: credential.type, response };
  if (r.attestationObject) {
    response.attestationObject = toText(r.attestationObject);
    if (r.getTransports) response.transports = r.getTransports();
    out.clientExtensionResults = extensions.credProps ? { credProps: extensions.credProps } : {};
  } else {
    response.authenticatorData = toText(r.authenticatorData);
    response.signature = toText(r.signature);
    if (r.userHandle) response.userHandle = toText(r.userHandle);
    out.clientExtensionResults = {};
  }
  return out;
}

/** The browser's dialog, or null when the customer closed it (or it timed out). */
async function ask(work) {
  try {
    return await work();
  } catch (error) {
    if (error && (error.name === 'NotAllowedError' || error.name === 'AbortError')) return null;
    throw error;
  }
}

/**
 * Signs in with a passkey the browser offers: {ok, status, data} as `call` answers, the
 * token in `data.token`; {cancelled: true} when the customer closed the dialog.
 */
export async function signInWithPasskey() {
  const begun = await call('POST', 'customers/passkey_login', {});
  if (!begun.ok) return begun;
  const publicKey = { ...begun.data.options.publicKey };
  publicKey.challenge = toBytes(publicKey.challenge);
  publicKey.allowCredentials = withIds(publicKey.allowCredentials);
  const credential = await ask(() => navigator.credentials.get({ publicKey }));
  if (!credential) return { ok: false, cancelled: true, status: 0, data: {}, message: TEXTS.cancelled };
  return call('POST', 'customers/passkey_login/finish', {
    challenge_id: begun.data.challenge_id,
    credential: credentialJson(credential),
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
  const publicKey = { ...begun.data.options.publicKey };
  publicKey.challenge = toBytes(publicKey.challenge);
  publicKey.user = { ...publicKey.user, id: toBytes(publicKey.user.id) };
  publicKey.excludeCredentials = withIds(publicKey.excludeCredentials);
  const credential = await ask(() => navigator.credentials.create({ publicKey }));
  if (!credential) return { ok: false, cancelled: true };
  const body = { challenge_id: begun.data.challenge_id, credential: credentialJson(credential) };
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
