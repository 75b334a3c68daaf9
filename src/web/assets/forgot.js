// Forgotten password: POST customers/password_reset. The reset_uri is this server's /reset
// page, given as a path so the link works wherever the server is mounted.
import { busy, call, clearErrors, root, showErrors, values } from './api.js';

const form = document.getElementById('forgot-form');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(form);
  const body = values(form, ['email']);
  body.reset_uri = new URL('reset', root).pathname;
  const result = await busy(form, () => call('POST', 'customers/password_reset', body));
  if (!result.ok) {
    showErrors(form, result);
    return;
  }
  form.hidden = true;
  const done = document.getElementById('forgot-done');
  done.hidden = false;
  done.focus();
});
