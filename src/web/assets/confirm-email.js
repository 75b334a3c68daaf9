// Email change confirmation: POST customers/newemail_confirm with the identifier and key from
// this page's URL, on a click (a link preview must not confirm anything).
import { busy, call, clearErrors, param, setToken, showErrors, t } from './api.js';

const form = document.getElementById('confirm-form');
const body = { identifier: param('identifier'), key: param('key') };
if (!body.identifier || !body.key) {
  form.querySelector('.form-error').textContent = t('confirmation_link_incomplete');
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(form);
  const result = await busy(form, () => call('POST', 'customers/newemail_confirm', body));
  if (!result.ok) {
    showErrors(form, result);
    return;
  }
  // The address used to sign in changed: start a fresh session with it.
  setToken(null);
  form.hidden = true;
  const done = document.getElementById('confirm-done');
  done.hidden = false;
  done.focus();
});
