// The account's security: the sessions (each with a sign-out button, and "everywhere else"),
// the recent activity, and the download of everything stored about the customer.
// GET/DELETE customers/sessions, GET customers/activity, GET customers/self/export.
import { busy, call, clearErrors, showStatus, t } from './api.js';

const sessionsForm = document.getElementById('sessions-form');
const activityForm = document.getElementById('activity-form');
const exportForm = document.getElementById('export-form');

const KINDS = {
  login_succeeded: t('activity_login_succeeded'),
  login_failed: t('activity_login_failed'),
  logout: t('activity_logout'),
  session_revoked: t('activity_session_revoked'),
  password_changed: t('activity_password_changed'),
  password_reset_requested: t('activity_password_reset_requested'),
  password_reset_completed: t('activity_password_reset_completed'),
  email_change_requested: t('activity_email_change_requested'),
  email_changed: t('activity_email_changed'),
  email_change_undone: t('activity_email_change_undone'),
  profile_updated: t('activity_profile_updated'),
  subscriptions_changed: t('activity_subscriptions_changed'),
  account_activated: t('activity_account_activated'),
  passkey_added: t('activity_passkey_added'),
  passkey_removed: t('activity_passkey_removed'),
  account_secured: t('activity_account_secured'),
  second_factor_added: t('activity_second_factor_added'),
  second_factor_removed: t('activity_second_factor_removed'),
};

/** How the customer signed in, beside "Signed in". */
const METHODS = {
  passkey: t('method_passkey'),
  password: t('method_password'),
  email_code: t('method_email_code'),
};

let customer = null;
let handle = () => {};
let oldest = null;

function when(text) {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toLocaleString();
}

/** The device by name ("Firefox on Windows"), and its IP. */
function describeClient(item) {
  const device = item.user_agent ? item.device : t('unknown_browser');
  return [device, item.ip || ''].filter(Boolean).join(' · ');
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
    title.textContent = session.current ? t('this_browser') : describeClient(session);
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = `${session.current ? `${describeClient(session)} · ` : ''}`
      + t('session_times', { since: when(session.created_at), used: when(session.last_used_at) });
    text.append(title, meta);
    item.append(text);
    if (!session.current) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'secondary';
      button.dataset.session = session.id;
      button.textContent = t('sign_out');
      button.setAttribute('aria-label', t('sign_out_device', { device: describeClient(session) }));
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
    // What the shop's support did, in its words (never who did it).
    if (event.kind === 'support_action') title.textContent = t('activity_support_action', { detail: event.detail || '' });
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

/** Shows the activity again from its newest event (after a change made elsewhere). */
export async function refreshActivity() {
  oldest = null;
  await fillActivity(false);
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
  showStatus(sessionsForm, t('device_signed_out'));
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
  showStatus(sessionsForm, count === 1 ? t('one_device_signed_out')
    : t('devices_signed_out', { count }));
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
  showStatus(exportForm, t('data_downloaded'));
});
