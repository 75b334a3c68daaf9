// A staff member's invitation: POST admin/staff/activate with the identifier and secret from
// this page's URL and the chosen password.
import { admin, busy, clear, showProblem, t } from './console-api.js';
import { param } from './api.js';

const form = document.getElementById('activate-form');
const body = { identifier: param('identifier'), secret: param('secret') };
if (!body.identifier || !body.secret) {
  form.querySelector('.form-error').textContent = t('invitation_incomplete');
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clear(form);
  body.password = form.elements.namedItem('password').value;
  body.password_check = form.elements.namedItem('password_check').value;
  const result = await busy(form, () => admin('POST', 'admin/staff/activate', body));
  if (!result.ok) {
    showProblem(form, result);
    return;
  }
  form.hidden = true;
  const done = document.getElementById('activate-done');
  done.hidden = false;
  done.focus();
});
