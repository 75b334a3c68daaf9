// The account's security: the sessions (each with a sign-out button, and "everywhere else"),
// the recent activity, and the download of everything stored about the customer.
// GET/DELETE customers/sessions, GET customers/activity, GET customers/self/export.
import { busy, call, clearErrors, showStatus } from './api.js';

const sessionsForm = document.getElementById('sessions-form');
const activityForm = document.getElementById('activity-form');
const exportForm = document.getElementById('export-form');

const KINDS = {
  login_succeeded: 'Signed in',
  login_failed: 'Failed sign-in attempt',
  logout: 'Signed out',
  session_revoked: 'Signed out another device',
  password_changed: 'Password changed',
  password_reset_requested: 'Password reset asked for',
  password_reset_completed: 'Password reset',
  email_change_requested: 'Email change asked for',
  email_changed: 'Email address changed',
  email_change_undone: 'Email change undone',
  profile_updated: 'Details changed',
  subscriptions_changed: 'Newsletters changed',
  account_activated: 'Account activated',
  passkey_added: 'Passkey added',
  passkey_removed: 'Passkey removed',
};

/** How the customer signed in, beside "Signed in". */
const METHODS = {
  passkey: 'with a passkey',
  password: 'with the password',
};

let customer = null;
let handle = () => {};
let oldest = null;

function when(text) {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toLocaleString();
}

function describeClient(item) {
  return [item.user_agent || 'Unknown browser', item.ip || ''].filter(Boolean).join(' · ');
}

async function fillSessions() {
  const result = await call('GET', 'customers/sessions', undefined, true);
  if (!result.ok) {
    handle(sessionsForm, result);
    return;
  }
  const list = document.getElementById('sessions-list');
  list.replaceChildren();
  for (const session of result.data.sessions) {
    const item = document.createElement('li');
    const text = document.createElement('span');
    const title = document.createElement('strong');
    title.textContent = session.current ? 'This browser' : describeClient(session);
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = `${session.current ? `${describeClient(session)} · ` : ''}`
      + `signed in ${when(session.created_at)}, last used ${when(session.last_used_at)}`;
    text.append(title, meta);
    item.append(text);
    if (!session.current) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'secondary';
      button.dataset.session = session.id;
      button.textContent = 'Sign out';
      button.setAttribute('aria-label', `Sign out ${describeClient(session)}`);
      item.append(button);
    }
    list.append(item);
  }
  document.getElementById('sessions-submit').hidden = result.data.sessions.length < 2;
}

async function fillActivity(more) {
  const query = more && oldest ? `?limit=20&before=${oldest}` : '?limit=20';
  const result = await call('GET', `customers/activity${query}`, undefined, true);
  if (!result.ok) {
    handle(activityForm, result);
    return;
  }
  const list = document.getElementById('activity-list');
  if (!more) list.replaceChildren();
  const { events } = result.data;
  for (const event of events) {
    const item = document.createElement('li');
    const title = document.createElement('strong');
    title.textContent = KINDS[event.kind] || event.kind;
    if (event.method && METHODS[event.method]) title.textContent += ` ${METHODS[event.method]}`;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = `${when(event.at)}${event.ip ? ` · ${describeClient(event)}` : ''}`;
    const text = document.createElement('span');
    text.append(title, meta);
    item.append(text);
    list.append(item);
  }
  if (events.length) oldest = events[events.length - 1].id;
  document.getElementById('activity-none').hidden = list.children.length > 0;
  document.getElementById('activity-submit').hidden = events.length < 20;
}

/** Shows the sessions, the activity and the export of the signed-in customer. */
export async function showSecurity(signedIn, onError) {
  customer = signedIn;
  handle = onError;
  oldest = null;
  await fillSessions();
  await fillActivity(false);
}

sessionsForm.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-session]');
  if (!button) return;
  clearErrors(sessionsForm);
  const result = await busy(sessionsForm,
    () => call('DELETE', `customers/sessions/${encodeURIComponent(button.dataset.session)}`, undefined, true));
  if (!result.ok) {
    handle(sessionsForm, result);
    return;
  }
  await fillSessions();
  showStatus(sessionsForm, 'That device is signed out.');
  await fillActivity(false);
});

sessionsForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(sessionsForm);
  const result = await busy(sessionsForm, () => call('DELETE', 'customers/sessions', undefined, true));
  if (!result.ok) {
    handle(sessionsForm, result);
    return;
  }
  await fillSessions();
  const { count } = result.data;
  showStatus(sessionsForm, count === 1 ? 'One other device is signed out.'
    : `${count} other devices are signed out.`);
  await fillActivity(false);
});

activityForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(activityForm);
  await busy(activityForm, () => fillActivity(true));
});

exportForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(exportForm);
  const result = await busy(exportForm, () => call('GET', 'customers/self/export', undefined, true));
  if (!result.ok) {
    handle(exportForm, result);
    return;
  }
  const blob = new Blob([JSON.stringify(result.data, null, 2)], { type: 'application/json' });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = `customer-${(customer && customer.id) || result.data.customer.id}.json`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  showStatus(exportForm, 'Your data is downloaded.');
});
