// The ways in besides the password form: a code sent by email (POST customers/login_code, then
// customers/login_code/verify), the page its emailed link opens (sign-in/code?email=&code=),
// and the second step of an account with two-step sign-in (POST customers/login/second_factor).
import { busy, call, clearErrors, param, root, showErrors } from './api.js';

const $ = (id) => document.getElementById(id);
const STEPS = ['signin-form', 'code-request-form', 'code-form', 'second-factor-form'];
const requestForm = $('code-request-form');
const codeForm = $('code-form');
const factorForm = $('second-factor-form');
const switchButton = $('second-factor-switch');

/** Whether `auth.login_methods` offers each way (the server says so on <body>); a passkey
 * also needs a browser with WebAuthn. */
export const WAYS = {
  password: document.body.dataset.password !== 'off',
  code: document.body.dataset.emailCode === 'on',
  passkey: document.body.dataset.passkeys === 'on'
    && typeof window.PublicKeyCredential === 'function'
    && !!navigator.credentials,
};

let signedIn = async () => {};
let codeEmail = '';
let challenge = '';
let spare = false;
/** The step a sign-in whose second step expired starts again from. */
let startedAt = 'signin-form';

/** Shows one step of signing in and focuses `focus` (an element id), if given: the customer
 * moved on, so the page's notice ("you are signed out") goes. */
export function showStep(id, focus) {
  for (const step of STEPS) $(step).hidden = step !== id;
  if (!focus) return;
  $('notice').textContent = '';
  $(focus).focus();
}

/** The first step: the password form, or the code form where passwords are switched off. */
export function firstStep() {
  return WAYS.password || !WAYS.code ? 'signin-form' : 'code-request-form';
}

/** Shows an error answer, saying in the form's own words (data-wrong) that a code is wrong. */
function showCodeErrors(form, result) {
  showErrors(form, result);
  if (result.data.error === 'invalid_code' && form.dataset.wrong) {
    form.querySelector('.form-error').textContent = form.dataset.wrong;
  }
}

/**
 * Goes on from the answer to a first factor (`from`: the step that sent it): a token signs in,
 * 401 `second_factor_required` asks for the second step and `email_code_required` for the code
 * the server has just emailed to `email`. False for any other answer, left to the caller.
 */
export async function goOn(result, from, email) {
  if (result.ok) {
    await signedIn(result.data.token);
    return true;
  }
  if (result.status !== 401) return false;
  if (result.data.error === 'second_factor_required') {
    challenge = result.data.challenge;
    startedAt = from;
    askSecondFactor();
    return true;
  }
  if (result.data.error === 'email_code_required' && WAYS.code) {
    askCode(email, 'locked');
    return true;
  }
  return false;
}

/** The code step for `email`; `why` says how the code came: `sent`, `locked` or `link`. */
function askCode(email, why) {
  codeEmail = email;
  codeForm.reset();
  clearErrors(codeForm);
  $('code-address').textContent = email;
  $('code-sent').hidden = why !== 'sent';
  $('code-locked').hidden = why !== 'locked';
  showStep('code-form', 'code-input');
}

function askSecondFactor() {
  factorForm.reset();
  clearErrors(factorForm);
  useSpare(false);
  showStep('second-factor-form', 'second-factor-code');
}

/** Asks for a recovery code (`on`) or the app's six digits. */
function useSpare(on) {
  spare = on;
  $('second-factor-app').hidden = on;
  $('second-factor-spare').hidden = !on;
  switchButton.textContent = on ? switchButton.dataset.app : switchButton.dataset.spare;
}

/** Wires the steps; `onToken` receives the session token of a finished sign-in. */
export function startWays(onToken) {
  signedIn = async (token) => {
    // Nothing of a finished sign-in stays in the hidden steps.
    codeForm.reset();
    factorForm.reset();
    challenge = '';
    await onToken(token);
  };
  $('code-way').hidden = !WAYS.code;
  for (const button of document.querySelectorAll('[data-way=password]')) button.hidden = !WAYS.password;
  // The emailed link: its address and code filled in, signed in with one press (a link
  // preview must not use the code up).
  const email = param('email');
  const code = param('code');
  if (WAYS.code && email && code) {
    askCode(email, 'link');
    $('code-input').value = code;
    $('code-submit').focus();
    return true;
  }
  return false;
}

/** Takes the emailed link's code out of the address bar once it has done its work. */
export function forgetLink() {
  if (param('code')) window.history.replaceState(null, '', root.href);
}

$('code-way').addEventListener('click', () => {
  requestForm.elements.namedItem('email').value = $('signin-email').value;
  clearErrors(requestForm);
  showStep('code-request-form', 'code-request-email');
});

for (const button of document.querySelectorAll('[data-way=password]')) {
  button.addEventListener('click', () => {
    if (codeEmail) $('signin-email').value = codeEmail;
    showStep('signin-form', 'signin-email');
  });
}

requestForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(requestForm);
  const email = requestForm.elements.namedItem('email').value.trim();
  const result = await busy(requestForm, () => call('POST', 'customers/login_code', { email }));
  if (!result.ok) {
    showErrors(requestForm, result);
    return;
  }
  askCode(email, 'sent');
});

codeForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(codeForm);
  const code = codeForm.elements.namedItem('code').value.replace(/\s/g, '');
  const body = { email: codeEmail, code };
  const result = await busy(codeForm, () => call('POST', 'customers/login_code/verify', body));
  if (!(await goOn(result, 'code-request-form', codeEmail))) showCodeErrors(codeForm, result);
});

$('code-again').addEventListener('click', async () => {
  clearErrors(codeForm);
  const result = await busy(codeForm, () => call('POST', 'customers/login_code', { email: codeEmail }));
  if (!result.ok) {
    showErrors(codeForm, result);
    return;
  }
  $('code-status').textContent = codeForm.dataset.sent;
  $('code-input').value = '';
  $('code-input').focus();
});

switchButton.addEventListener('click', () => {
  clearErrors(factorForm);
  useSpare(!spare);
  $(spare ? 'second-factor-recovery' : 'second-factor-code').focus();
});

factorForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(factorForm);
  const body = spare
    ? { challenge, recovery_code: factorForm.elements.namedItem('recovery_code').value.trim() }
    : { challenge, code: factorForm.elements.namedItem('code').value.replace(/\s/g, '') };
  const result = await busy(factorForm, () => call('POST', 'customers/login/second_factor', body));
  if (result.ok) {
    await signedIn(result.data.token);
    return;
  }
  if (result.data.fields && result.data.fields.challenge) {
    // Too late, or too many wrong codes: the sign-in starts again.
    showStep(startedAt);
    const top = $(startedAt).querySelector('.form-error');
    top.textContent = factorForm.dataset.expired;
    top.focus();
    return;
  }
  showCodeErrors(factorForm, result);
});
