// A staff member's passkeys in the console: "Sign in with a passkey" on the sign-in page, and
// "Add a passkey" with the list of their passkeys and a remove button each, on the
// second-factor enrollment step and on their own security screen (`#/security`).
// POST admin/staff/passkey_login(/finish), GET/POST/DELETE admin/staff/passkeys(...).
import { admin, busy, clear, el, say, showProblem, t, when } from './console-api.js';
import { createCredential, getCredential, webauthnAvailable } from './webauthn.js';

/** Whether this browser can use passkeys. */
export const passkeysAvailable = webauthnAvailable;

const CANCELLED = { ok: false, cancelled: true, status: 0, data: {} };

/** Signs in with a staff passkey the browser offers: the API's answer (the token in
 * `data.token`), or {cancelled: true} when the dialog was closed. */
export async function signInWithPasskey() {
  const begun = await admin('POST', 'admin/staff/passkey_login', {});
  if (!begun.ok) return begun;
  const credential = await getCredential(begun.data.options);
  if (!credential) return CANCELLED;
  return admin('POST', 'admin/staff/passkey_login/finish', {
    challenge_id: begun.data.challenge_id,
    credential,
  });
}

async function addPasskey(name) {
  const begun = await admin('POST', 'admin/staff/passkeys/register', {});
  if (!begun.ok) return begun;
  const credential = await createCredential(begun.data.options);
  if (!credential) return CANCELLED;
  const body = { challenge_id: begun.data.challenge_id, credential };
  if (name) body.name = name;
  return admin('POST', 'admin/staff/passkeys/register/finish', body);
}

function item(passkey) {
  const meta = t('staff_passkey_created', { when: when(passkey.created_at) })
    + (passkey.last_used_at
      ? t('staff_passkey_last_used', { when: when(passkey.last_used_at) })
      : t('staff_passkey_never_used'));
  return el('li', {},
    el('span', {}, el('strong', {}, passkey.name), ' ', el('span', { class: 'meta' }, meta)),
    el('button', {
      type: 'button',
      class: 'secondary',
      'data-passkey': passkey.id,
      'aria-label': t('staff_passkey_remove_label', { name: passkey.name }),
    }, t('staff_passkey_remove')));
}

/**
 * Makes `form` (an input `name`, a submit button, `.passkey-list`, `.passkey-none`,
 * `.form-error` and `.status`) add and remove the signed-in member's passkeys; `onAdded` runs
 * after a passkey is added. Answers the function that (re)draws the list.
 */
export function passkeyForm(form, onAdded = async () => {}) {
  const list = form.querySelector('.passkey-list');
  const none = form.querySelector('.passkey-none');

  async function refresh() {
    if (!passkeysAvailable) {
      form.querySelector('.form-error').textContent = t('staff_passkey_unavailable');
      form.querySelector('button[type=submit]').disabled = true;
      return;
    }
    const answer = await admin('GET', 'admin/staff/passkeys');
    if (!answer.ok) {
      showProblem(form, answer);
      return;
    }
    const passkeys = answer.data.passkeys || [];
    list.replaceChildren(...passkeys.map(item));
    none.textContent = t('staff_passkey_none');
    none.hidden = passkeys.length > 0;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(form);
    const input = form.elements.namedItem('name');
    const answer = await busy(form, () => addPasskey(input.value.trim()));
    if (answer.cancelled) {
      form.querySelector('.form-error').textContent = t('staff_passkey_cancelled');
      return;
    }
    if (!answer.ok) {
      showProblem(form, answer);
      return;
    }
    input.value = '';
    await refresh();
    say(form, t('staff_passkey_added'));
    await onAdded();
  });

  form.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-passkey]');
    if (!button) return;
    clear(form);
    const path = `admin/staff/passkeys/${encodeURIComponent(button.dataset.passkey)}`;
    const answer = await busy(button, () => admin('DELETE', path));
    if (!answer.ok) {
      showProblem(form, answer);
      return;
    }
    await refresh();
    say(form, t('staff_passkey_removed'));
    form.elements.namedItem('name').focus();
  });

  return refresh;
}
