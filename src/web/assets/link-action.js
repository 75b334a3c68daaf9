// The pages of emailed links that act on a click (a link preview must not act): the undo of
// an email change and "this wasn't me".
import { busy, call, clearErrors, param, setToken, showErrors, t } from './api.js';

/** The page of an emailed link that acts on a click (a link preview must not act): posts the
 * identifier and key of its URL to `path` from #<name>-form, then shows #<name>-done. The
 * actions it serves end every session, this tab's included. */
export function linkAction(name, path) {
  const form = document.getElementById(`${name}-form`);
  const body = { identifier: param('identifier'), key: param('key') };
  if (!body.identifier || !body.key) {
    form.querySelector('.form-error').textContent = t('link_incomplete');
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const result = await busy(form, () => call('POST', path, body));
    if (!result.ok) {
      showErrors(form, result);
      return;
    }
    setToken(null);
    form.hidden = true;
    const done = document.getElementById(`${name}-done`);
    done.hidden = false;
    done.focus();
  });
}
