// Sign-up: POST customers/signup; the activation link then opens this server's /activate page.
import { busy, call, clearErrors, root, showErrors, values } from './api.js';

const form = document.getElementById('signup-form');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(form);
  const body = values(form, ['name', 'email']);
  body.activate_uri = new URL('activate', root).pathname;
  const result = await busy(form, () => call('POST', 'customers/signup', body));
  if (!result.ok) {
    showErrors(form, result);
    return;
  }
  form.hidden = true;
  const done = document.getElementById('signup-done');
  done.hidden = false;
  done.focus();
});
