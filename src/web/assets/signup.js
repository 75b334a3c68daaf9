// Sign-up: GET subscriptions for the lists a new customer may opt in to (each unticked: consent
// is given, never presumed), then POST customers/signup; the activation link opens this
// server's /activate page.
import { busy, call, clearErrors, listSwitches, listsOf, root, showErrors, values } from './api.js';

const form = document.getElementById('signup-form');

async function showLists() {
  const result = await call('GET', 'subscriptions');
  // Without the lists a customer can still sign up and subscribe later in the account.
  if (!result.ok) return;
  const lists = listsOf(result);
  listSwitches(document.getElementById('signup-lists-items'), lists, new Set(), 'signup-subscription-');
  document.getElementById('signup-lists').hidden = lists.length === 0;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(form);
  const body = values(form, ['name', 'email']);
  body.activate_uri = new URL('activate', root).pathname;
  body.subscriptions = [...form.querySelectorAll('input[name=subscriptions]:checked')]
    .map((input) => input.value);
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

showLists();
