// The account page: everything the API lets a signed-in customer do.
// GET/PATCH/DELETE customers/self, GET subscriptions, POST customers/logout.
import { busy, call, clearErrors, listSwitches, listsOf, showErrors, showStatus, t, values } from './api.js';
import { showPasskeys } from './passkeys.js';
import { refreshActivity, showSecurity } from './security.js';
import { showTotp } from './totp.js';

const profileForm = document.getElementById('profile-form');
// The profile's fields: the form's named controls, which the server writes from its list of
// fields (src/domain/profile.rs).
const PROFILE = [...profileForm.elements].filter((e) => e.name).map((e) => e.name);
const listsForm = document.getElementById('subscriptions-form');
const emailForm = document.getElementById('email-form');
const passwordForm = document.getElementById('password-form');
const deleteForm = document.getElementById('delete-form');

let onSignedOut = () => {};
let customer = null;

/** Names the countries in the browser's language and sorts them by name. */
function nameCountries() {
  const select = document.getElementById('country');
  if (select.dataset.named || typeof Intl.DisplayNames !== 'function') return;
  const names = new Intl.DisplayNames([navigator.language, 'en'], { type: 'region' });
  const options = [...select.options].filter((o) => o.value);
  for (const option of options) {
    try {
      option.textContent = names.of(option.value) || option.value;
    } catch {
      option.textContent = option.value;
    }
  }
  options.sort((a, b) => a.textContent.localeCompare(b.textContent));
  for (const option of options) select.append(option);
  select.dataset.named = 'true';
}

function fillProfile(c) {
  customer = c;
  document.getElementById('current-email').textContent = c.email;
  // Bounces showed the address dead: ask for a working one.
  document.getElementById('email-undeliverable').hidden = c.email_deliverable !== false;
  // Lets password managers file the new password under the right account.
  document.getElementById('password-username').value = c.email;
  for (const key of PROFILE) profileForm.elements.namedItem(key).value = c[key] || '';
}

async function fillLists(c) {
  const list = document.getElementById('subscriptions-list');
  const result = await call('GET', 'subscriptions');
  if (!result.ok) {
    showErrors(listsForm, result);
    return;
  }
  const lists = listsOf(result);
  const subscribed = new Set((c.subscriptions || []).map((s) => s.id));
  listSwitches(list, lists, subscribed, 'subscription-');
  document.getElementById('subscriptions-none').hidden = lists.length > 0;
}

/** Shows the signed-in customer's account; false when the token no longer works. */
export async function showAccount(signedOut) {
  onSignedOut = signedOut;
  nameCountries();
  const result = await call('GET', 'customers/self', undefined, true);
  if (!result.ok) return false;
  fillProfile(result.data);
  await fillLists(result.data);
  await showPasskeys(handle);
  document.getElementById('passkeys-menu-item').hidden = document.getElementById('passkeys-form').hidden;
  await showTotp(handle, refreshActivity);
  await showSecurity(result.data, handle);
  return true;
}

/** A 401 on any form means the session is over. */
function handle(form, result) {
  if (result.status === 401) {
    onSignedOut(t('session_ended'));
    return;
  }
  showErrors(form, result);
}

profileForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(profileForm);
  const body = {};
  for (const [key, value] of Object.entries(values(profileForm, PROFILE))) {
    const trimmed = value.trim();
    if (trimmed !== (customer[key] || '')) body[key] = trimmed === '' ? null : trimmed;
  }
  if (!Object.keys(body).length) {
    showStatus(profileForm, t('details_unchanged'));
    return;
  }
  const result = await busy(profileForm, () => call('PATCH', 'customers/self', body, true));
  if (!result.ok) {
    handle(profileForm, result);
    return;
  }
  fillProfile(result.data);
  showStatus(profileForm, t('details_saved'));
});

listsForm.addEventListener('change', async () => {
  clearErrors(listsForm);
  const chosen = [...listsForm.querySelectorAll('input[name=subscriptions]:checked')]
    .map((input) => input.value);
  const result = await busy(listsForm, () => call('PATCH', 'customers/self', { subscriptions: chosen }, true));
  if (!result.ok) {
    handle(listsForm, result);
    return;
  }
  customer = result.data;
  showStatus(listsForm, t('newsletters_saved'));
});
listsForm.addEventListener('submit', (event) => event.preventDefault());

emailForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(emailForm);
  const email = emailForm.elements.namedItem('email').value.trim();
  const result = await busy(emailForm, () => call('PATCH', 'customers/self', { email }, true));
  if (!result.ok) {
    handle(emailForm, result);
    return;
  }
  emailForm.reset();
  showStatus(emailForm, t('email_change_sent', { email }));
});

passwordForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(passwordForm);
  const body = values(passwordForm, ['current_password', 'password', 'password_check']);
  const result = await busy(passwordForm, () => call('PATCH', 'customers/self', body, true));
  if (!result.ok) {
    handle(passwordForm, result);
    return;
  }
  passwordForm.reset();
  showStatus(passwordForm, t('password_changed'));
});

deleteForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(deleteForm);
  const typed = deleteForm.elements.namedItem('confirm');
  if (typed.value.trim() !== 'DELETE') {
    typed.setAttribute('aria-invalid', 'true');
    deleteForm.querySelector('[data-error-for=confirm]').textContent = 'Type DELETE in capital letters to confirm.';
    typed.focus();
    return;
  }
  const result = await busy(deleteForm, () => call('DELETE', 'customers/self', undefined, true));
  if (!result.ok) {
    handle(deleteForm, result);
    return;
  }
  deleteForm.reset();
  onSignedOut(t('account_deleted'));
});

document.getElementById('signout').addEventListener('click', async () => {
  await call('POST', 'customers/logout', undefined, true);
  onSignedOut(t('signed_out'));
});
