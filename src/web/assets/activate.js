// Activation: POST customers/activate with the identifier and secret from this page's URL.
import { busy, call, clearErrors, param, showErrors, t, values } from './api.js';

const form = document.getElementById('activate-form');
const body = { identifier: param('identifier'), secret: param('secret') };
if (!body.identifier || !body.secret) {
  form.querySelector('.form-error').textContent = t('activation_link_incomplete');
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(form);
  Object.assign(body, values(form, ['password', 'password_check']));
  const result = await busy(form, () => call('POST', 'customers/activate', body));
  if (!result.ok) {
    showErrors(form, result);
    return;
  }
  form.hidden = true;
  const done = document.getElementById('activate-done');
  done.hidden = false;
  done.focus();
});
