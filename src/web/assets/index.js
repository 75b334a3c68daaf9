// The sign-in page: POST customers/login, keep the token in sessionStorage, then show the
// account (account.js). A shop's own sign-in form does exactly this.
import { busy, call, clearErrors, setToken, showErrors, t, token, values } from './api.js';
import { showAccount } from './account.js';
import { PASSKEY_TEXTS, passkeysAvailable, signInWithPasskey } from './passkeys.js';

const signin = document.getElementById('signin');
const account = document.getElementById('account');
const form = document.getElementById('signin-form');

function signedOut(message) {
  setToken(null);
  account.hidden = true;
  signin.hidden = false;
  document.title = t('title_sign_in');
  document.getElementById('notice').textContent = message || '';
}

async function enter() {
  signin.hidden = true;
  account.hidden = false;
  document.title = t('title_account');
  const ok = await showAccount(signedOut);
  if (!ok) {
    signedOut(t('session_ended'));
    return;
  }
  // Arriving from the reset page: go straight to choosing a password of one's own.
  if (window.location.hash === '#password-form') document.getElementById('current_password').focus();
}

async function signedIn(token) {
  setToken(token);
  form.reset();
  document.getElementById('notice').textContent = '';
  await enter();
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(form);
  const body = values(form, ['email', 'password']);
  const result = await busy(form, () => call('POST', 'customers/login', body));
  if (!result.ok) {
    showErrors(form, result);
    return;
  }
  await signedIn(result.data.token);
});

const passkeyButton = document.getElementById('passkey-signin');
passkeyButton.hidden = !passkeysAvailable;
passkeyButton.addEventListener('click', async () => {
  clearErrors(form);
  passkeyButton.disabled = true;
  let result;
  try {
    result = await signInWithPasskey();
  } finally {
    passkeyButton.disabled = false;
  }
  if (result.ok) {
    await signedIn(result.data.token);
    return;
  }
  const top = document.getElementById('signin-error');
  if (result.cancelled) top.textContent = PASSKEY_TEXTS.cancelled;
  else if (result.status === 401) top.textContent = PASSKEY_TEXTS.refused;
  else {
    showErrors(form, result);
    return;
  }
  top.focus();
});

if (token()) enter();
else signedOut(new URLSearchParams(window.location.search).get('signed_out') ? t('signed_out') : '');
