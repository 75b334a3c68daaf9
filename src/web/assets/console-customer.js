// One customer in the console: the profile with an edit and its reason, subscriptions and
// consents, sessions, passkeys, activity, emails sent, the support actions and the deletion.
import {
  admin, busy, clear, el, explain, flash, rowsOf, say, showProblem, t, table, when, word,
} from './console-api.js';

const $ = (id) => document.getElementById(id);
const PROFILE = ['name', 'phone', 'mobile', 'address', 'address_town', 'address_postcode',
  'address_region', 'country', 'language'];
let current = null;

/** The columns of each part of the customer, and how some of their cells are written. */
const COLUMNS = {
  consents: [['list_id', t('list')], ['action', t('action')], ['source', t('source')], ['at', t('at')]],
  sessions: [['created_at', t('signed_in')], ['last_seen', t('last_seen')], ['ip', t('ip')], ['user_agent', t('device')]],
  passkeys: [['name', t('name')], ['created_at', t('added')], ['last_used_at', t('last_used')]],
  activity: [['at', t('at')], ['kind', t('kind')], ['detail', t('detail')], ['ip', t('ip')]],
  emails: [['kind', t('kind')], ['status', t('status')], ['at', t('at')]],
};
const CELLS = {
  at: (r) => when(r.at || r.created_at || r.sent_at),
  created_at: (r) => when(r.created_at),
  last_seen: (r) => when(r.last_seen || r.last_seen_at || r.last_used_at),
  last_used_at: (r) => when(r.last_used_at),
  status: (r) => (r.status ? word('state', r.status) : ''),
  detail: (r) => (typeof r.detail === 'string' ? r.detail : (r.detail ? JSON.stringify(r.detail) : '')),
};

/** Draws the consent records of the customer `id`. */
function consents(id) {
  part(id, '/consents', 'customer-subscriptions', (d) => table(t('consents'), COLUMNS.consents, rowsOf(d), CELLS));
}

/** Fills one section's `.rows` from `GET admin/customers/<id><suffix>`. */
async function part(id, suffix, sectionId, draw) {
  const section = $(sectionId);
  clear(section);
  const answer = await admin('GET', `admin/customers/${encodeURIComponent(id)}${suffix}`);
  const rows = section.querySelector('.rows') || section.querySelector(`#customer-consents`);
  if (!answer.ok) {
    section.querySelector('.form-error').textContent = explain(answer);
    rows.replaceChildren();
    return;
  }
  rows.replaceChildren(draw(answer.data));
}

export async function customer(id) {
  current = null;
  $('customer-error').textContent = '';
  $('customer-facts').replaceChildren();
  for (const form of [$('profile-form'), $('customer-subscriptions'), $('delete-form')]) {
    form.reset();
    clear(form);
  }
  clear($('customer-actions'));
  const answer = await admin('GET', `admin/customers/${encodeURIComponent(id)}`);
  if (!answer.ok) {
    $('customer-error').textContent = explain(answer);
    $('customer-error').focus();
    return;
  }
  current = answer.data;
  show(current);
  const lists = await admin('GET', 'admin/subscriptions');
  const chosen = new Map((current.subscriptions || []).map((s) => [s.id || s, s]));
  // A list paused from the unsubscribe link's page says until when.
  const paused = (id) => {
    const until = chosen.get(id)?.paused_until;
    return until ? el('span', { class: 'meta' }, t('paused_until', { date: when(until) })) : null;
  };
  $('customer-lists').replaceChildren(...(lists.ok ? lists.data.subscriptions : []).map((l) => el('label', { class: 'switch' },
    el('input', { type: 'checkbox', role: 'switch', name: 'subscriptions', value: l.id, id: `customer-list-${l.id}`, checked: chosen.has(l.id) }),
    l.name || l.id, paused(l.id))));
  consents(id);
  part(id, '/sessions', 'customer-sessions', (d) => table(t('sessions'), COLUMNS.sessions, rowsOf(d), CELLS));
  part(id, '/passkeys', 'customer-passkeys', (d) => table(t('passkeys'), COLUMNS.passkeys, rowsOf(d), CELLS));
  part(id, '/activity', 'customer-activity', (d) => table(t('activity'), COLUMNS.activity, rowsOf(d), CELLS));
  part(id, '/emails', 'customer-emails', (d) => table(t('emails_sent'), COLUMNS.emails, rowsOf(d), CELLS));
}

function show(c) {
  $('customer-title').textContent = c.name ? `${c.name} (${c.email})` : c.email;
  const facts = [[t('email'), c.email], [t('id'), c.id], [t('identifier'), c.identifier],
    [t('status'), word('status', c.status)], [t('created'), when(c.created_at)]];
  $('customer-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v || '')]));
  // Bounces showed the address dead: no list exports it until the customer confirms another.
  const mark = $('customer-undeliverable');
  const dead = c.email_deliverable === false ? c.email_undeliverable || {} : null;
  mark.textContent = dead
    ? t('address_undeliverable', { at: when(dead.since), reason: dead.reason || '' })
    : '';
  mark.hidden = !dead;
  const form = $('profile-form');
  for (const key of PROFILE) {
    const input = form.elements.namedItem(key);
    if (input) input.value = c[key] ?? '';
  }
  $('delete-confirm').value = '';
}

$('profile-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  clear(form);
  if (!current) return;
  const reason = form.elements.namedItem('reason').value.trim();
  if (!reason) {
    showProblem(form, { status: 422, data: { fields: { reason: t('reason_required') } } });
    return;
  }
  const body = { reason };
  for (const key of PROFILE) {
    const value = form.elements.namedItem(key).value.trim();
    if (value !== (current[key] ?? '')) body[key] = value === '' ? null : value;
  }
  const answer = await busy(form, () => admin('PATCH', `admin/customers/${encodeURIComponent(current.id)}`, body));
  if (!answer.ok) {
    showProblem(form, answer);
    return;
  }
  current = answer.data;
  show(current);
  form.elements.namedItem('reason').value = '';
  say(form, t('saved'));
});

$('customer-subscriptions').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  clear(form);
  if (!current) return;
  const subscriptions = [...form.querySelectorAll('input[name=subscriptions]:checked')].map((i) => i.value);
  const answer = await busy(form, () => admin('PUT', `admin/customers/${encodeURIComponent(current.id)}/subscriptions`, { subscriptions }));
  if (!answer.ok) {
    showProblem(form, answer);
    return;
  }
  consents(current.id);
  say(form, t('saved'));
});

/** A support action's button: `method path`, then `done` in the actions' status line. */
function action(buttonId, method, suffix, done, body) {
  $(buttonId).addEventListener('click', async (event) => {
    const section = $('customer-actions');
    clear(section);
    if (!current) return;
    const answer = await busy(event.target, () => admin(method, `admin/customers/${encodeURIComponent(current.id)}${suffix}`, body));
    if (!answer.ok) {
      $('actions-error').textContent = explain(answer);
      $('actions-error').focus();
      return;
    }
    $('actions-status').textContent = t(done);
    part(current.id, '/activity', 'customer-activity', (d) => table(t('activity'), COLUMNS.activity, rowsOf(d), CELLS));
    part(current.id, '/emails', 'customer-emails', (d) => table(t('emails_sent'), COLUMNS.emails, rowsOf(d), CELLS));
  });
}

action('action-resend', 'POST', '/resend_activation', 'activation_sent');
action('action-reset', 'POST', '/password_reset', 'reset_sent', {});
action('action-unlock', 'POST', '/unlock', 'unlocked');
action('action-second-factor', 'DELETE', '/second_factor', 'second_factor_removed');

$('sessions-revoke').addEventListener('click', async (event) => {
  const section = $('customer-sessions');
  clear(section);
  if (!current) return;
  const answer = await busy(event.target, () => admin('DELETE', `admin/customers/${encodeURIComponent(current.id)}/sessions`));
  if (!answer.ok) {
    section.querySelector('.form-error').textContent = explain(answer);
    return;
  }
  section.querySelector('.rows').replaceChildren();
  say(section, t('sessions_revoked', { n: answer.data.count ?? 0 }));
});

$('delete-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  clear(form);
  if (!current) return;
  if ($('delete-confirm').value.trim().toLowerCase() !== current.email.toLowerCase()) {
    $('delete-error').textContent = t('delete_mismatch');
    $('delete-confirm').focus();
    return;
  }
  const answer = await busy(form, () => admin('DELETE', `admin/customers/${encodeURIComponent(current.id)}`));
  if (!answer.ok) {
    showProblem(form, answer);
    return;
  }
  flash(t('customer_deleted', { email: current.email }));
  window.location.hash = '#/customers';
});

// The section menu moves the focus inside the screen, leaving the route in the URL.
for (const link of document.querySelectorAll('[data-jump]')) {
  link.addEventListener('click', (event) => {
    event.preventDefault();
    const target = document.querySelector(link.getAttribute('href'));
    target.setAttribute('tabindex', '-1');
    target.scrollIntoView();
    target.focus();
  });
}
