// "This wasn't me": POST customers/not_me with the identifier and key from this page's URL, on
// a click (a link preview must not sign anyone out).
import { busy, call, clearErrors, param, setToken, showErrors, t } from './api.js';

const form = document.getElementById('not-me-form');
const body = { identifier: param('identifier'), key: param('key') };
if (!body.identifier || !body.key) {
  form.querySelector('.form-error').textContent = t('link_incomplete');
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(form);
  const result = await busy(form, () => call('POST', 'customers/not_me', body));
  if (!result.ok) {
    showErrors(form, result);
    return;
  }
  // Every session ended, this tab's included.
  setToken(null);
  form.hidden = true;
  const done = document.getElementById('not-me-done');
  done.hidden = false;
  done.focus();
});
