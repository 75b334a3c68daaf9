// One-click unsubscribe: on a click (a link preview or a mail scanner opening the page must
// not unsubscribe), POST this page's own URL with the RFC 8058 form body.
import { busy, clearErrors, t } from './api.js';

const form = document.getElementById('unsubscribe-form');
const error = document.getElementById('unsubscribe-error');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(form);
  const response = await busy(form, () => fetch(window.location.pathname, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'List-Unsubscribe=One-Click',
  }).catch(() => null));
  if (!response || !response.ok) {
    error.textContent = response && response.status === 404
      ? t('unsubscribe_link_invalid')
      : t('error_server');
    error.focus();
    return;
  }
  form.hidden = true;
  const done = document.getElementById('unsubscribe-done');
  done.hidden = false;
  done.focus();
});
