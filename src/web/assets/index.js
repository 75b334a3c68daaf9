// The sign-in page: POST customers/login, keep the token in sessionStorage, then show the
// account (account.js, loaded only then). A shop's own sign-in form does exactly this. The
// emailed code and the second step of two-step sign-in are in sign-in-ways.js.
import { busy, call, clearErrors, setToken, showErrors, t, token, values } from './api.js';
import { WAYS, firstStep, forgetLink, goOn, showStep, startWays } from './sign-in-ways.js';

const signin = document.getElementById('signin');
const account = document.getElementById('account');
const form = document.getElementById('signin-form');

function signedOut(message) {
  setToken(null);
  account.hidden = true;
  signin.hidden = false;
  showStep(firstStep());
  document.title = t('title_sign_in');
  document.getElementById('notice').textContent = message || '';
}

let accountScripts = null;

/** The account's scripts, fetched once signed in: a visitor who is not never downloads them. */
async function loadAccount() {
  accountScripts = accountScripts || import('./account.js');
  try {
    return await accountScripts;
  } catch {
    accountScripts = null;
    return null;
  }
}

async function enter() {
  forgetLink();
  const scripts = await loadAccount();
  if (!scripts) {
    document.getElementById('notice').textContent = t('error_network');
    return;
  }
  signin.hidden = true;
  account.hidden = false;
  document.title = t('title_account');
  const ok = await scripts.showAccount(signedOut);
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
  if (!(await goOn(result, 'signin-form', body.email.trim()))) showErrors(form, result);
});

/** The passkeys' scripts (passkeys.js), fetched on the first press: most visitors never
 * need the WebAuthn code. Null when they cannot be fetched. */
async function loadPasskeys() {
  try {
    return await import('./passkeys.js');
  } catch {
    return null;
  }
}

const passkeyButton = document.getElementById('passkey-signin');
passkeyButton.hidden = !WAYS.passkey;
passkeyButton.addEventListener('click', async () => {
  clearErrors(form);
  passkeyButton.disabled = true;
  let passkeys;
  let result;
  try {
    passkeys = await loadPasskeys();
    result = passkeys ? await passkeys.signInWithPasskey() : { ok: false, status: 0, data: { error: 'network' } };
  } finally {
    passkeyButton.disabled = false;
  }
  if (result.ok) {
    await signedIn(result.data.token);
    return;
  }
  const top = document.getElementById('signin-error');
  if (result.cancelled) top.textContent = passkeys.PASSKEY_TEXTS.cancelled;
  else if (result.status === 401) top.textContent = passkeys.PASSKEY_TEXTS.refused;
  else {
    showErrors(form, result);
    return;
  }
  top.focus();
});

const fromLink = startWays(signedIn);
if (token()) enter();
else if (!fromLink) signedOut(new URLSearchParams(window.location.search).get('signed_out') ? t('signed_out') : '');
else document.title = t('title_sign_in');
