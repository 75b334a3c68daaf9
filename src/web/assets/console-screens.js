// The console's screens but one customer's (console-customer.js): each a function of the
// route's argument and the signed-in staff member, drawing what the admin API answers.
import {
  admin, busy, clear, el, explain, offerDownload, rowsOf, say, showProblem, t, table, when, word,
} from './console-api.js';
import { customer } from './console-customer.js';
import { passkeyForm } from './console-passkeys.js';

const $ = (id) => document.getElementById(id);

/** Shows an error answer in the screen's `#<name>-error`. */
function failed(name, result) {
  const slot = $(`${name}-error`);
  slot.textContent = explain(result);
}

async function overview() {
  const body = $('overview-body');
  $('overview-error').textContent = '';
  body.replaceChildren(el('p', {}, t('loading')));
  const [stats, health] = await Promise.all([admin('GET', 'admin/stats'), admin('GET', 'healthz')]);
  const parts = [];
  const status = health.ok ? t('health_ok') : t('health_bad', { status: health.status });
  parts.push(el('section', { class: 'card', 'aria-labelledby': 'health-title' },
    el('h2', { id: 'health-title' }, t('health')), el('p', { id: 'health' }, status)));
  if (!stats.ok) {
    failed('overview', stats);
    body.replaceChildren(...parts);
    return;
  }
  const s = stats.data;
  const figures = (title, id, entries) => el('section', { class: 'card', 'aria-labelledby': id },
    el('h2', { id }, title),
    el('dl', { class: 'facts' }, entries.map(([label, value]) => [el('dt', {}, label), el('dd', {}, String(value ?? 0))])));
  parts.unshift(
    figures(t('customers_by_status'), 'stats-customers', [
      [t('status_active'), s.customers?.active], [t('status_pending'), s.customers?.pending],
      [t('status_locked'), s.customers?.locked]]),
    figures(t('emails'), 'stats-emails', [[t('queued'), s.emails?.queued], [t('failed'), s.emails?.failed]]),
    figures(t('webhooks'), 'stats-webhooks', [[t('queued'), s.webhooks?.queued], [t('failed'), s.webhooks?.failed]]),
  );
  const days = (s.signups_by_day || []).map((d) => (typeof d === 'object' ? d : { count: d }));
  const most = Math.max(1, ...days.map((d) => d.count || 0));
  parts.splice(1, 0, el('section', { class: 'card', 'aria-labelledby': 'signups-title' },
    el('h2', { id: 'signups-title' }, t('signups')),
    table(t('signups'), [['day', t('day')], ['count', t('count')]], days, {
      day: (d, i) => d.day || d.date || '',
      count: (d) => el('span', { class: 'bar' },
        el('meter', { min: '0', max: String(most), value: String(d.count || 0), 'aria-label': String(d.count || 0) }),
        ` ${d.count || 0}`),
    })));
  body.replaceChildren(...parts);
}

let customerCursor = null;

async function customers() {
  $('customers-results').replaceChildren();
  $('customers-more').hidden = true;
  $('search').focus();
}

function customerRows(list) {
  return table(t('customers'), [['email', t('email')], ['name', t('name')], ['status', t('status')], ['id', t('id')]], list, {
    email: (c) => [el('a', { href: `#/customer/${c.id}` }, c.email),
      c.email_deliverable === false ? el('span', { class: 'mark' }, ` ${t('undeliverable_mark')}`) : null],
    status: (c) => word('status', c.status),
  });
}

async function searchCustomers(more) {
  const form = $('search-form');
  clear(form);
  const query = $('search').value.trim();
  const results = $('customers-results');
  if (!more) customerCursor = null;
  // A customer's 14-digit id (or exact identifier) opens them at once.
  if (!more && /^\d{14}$/.test(query)) {
    const one = await admin('GET', `admin/customers/${encodeURIComponent(query)}`);
    if (one.ok) {
      results.replaceChildren(customerRows([one.data]));
      return;
    }
  }
  const params = new URLSearchParams({ limit: '25' });
  if (query) params.set('search', query);
  if (customerCursor) params.set('after', customerCursor);
  const page = await busy(form, () => admin('GET', `admin/customers?${params}`));
  if (!page.ok) {
    showProblem(form, page);
    return;
  }
  const list = page.data.customers || [];
  const summary = el('p', { id: 'customers-total', role: 'status' }, t(page.data.total_exact === false ? 'found_more' : 'found', { n: page.data.total ?? list.length }));
  if (more) {
    const tbody = results.querySelector('tbody');
    const rows = customerRows(list).querySelectorAll('tbody tr');
    if (tbody) tbody.append(...rows);
  } else {
    results.replaceChildren(summary, customerRows(list));
  }
  customerCursor = page.data.next || null;
  $('customers-more').hidden = !customerCursor;
}

$('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  searchCustomers(false);
});
$('customers-more').addEventListener('click', () => searchCustomers(true));

async function lists() {
  $('lists-error').textContent = '';
  $('lists-status').textContent = '';
  const rows = $('lists-rows');
  const answer = await admin('GET', 'admin/subscriptions');
  if (!answer.ok) {
    failed('lists', answer);
    return;
  }
  const items = answer.data.subscriptions || [];
  rows.replaceChildren(table(t('lists'), [
    ['name', t('list_name')], ['id', t('list_id')], ['members', t('members')], ['do', t('do')]], items, {
    members: (l) => el('span', { 'data-members': l.id }, '…'),
    do: (l) => el('span', { class: 'row-actions' },
      rowButton(t('rename'), l.name, 'secondary', (e) => renameList(l, e.target)),
      rowButton(t('export'), l.name, 'secondary', (e) => exportList(l, e.target)),
      el('a', { class: 'download', hidden: true, 'data-download': l.id }, t('download_csv')),
      rowButton(t('delete'), l.name, 'danger', (e) => deleteList(l, e.target))),
  }));
  for (const l of items) {
    admin('GET', `admin/subscriptions/${encodeURIComponent(l.id)}/members?limit=1`).then((page) => {
      const slot = rows.querySelector(`[data-members="${CSS.escape(l.id)}"]`);
      if (slot) slot.textContent = page.ok ? String(page.data.total ?? '') : explain(page);
    });
  }
}

/** Puts a form in the list's row, in place of its name: a new name, saved with PATCH. */
function renameList(list, button) {
  const cell = button.closest('tr').querySelector('td');
  const id = `rename-${list.id}`;
  const input = el('input', { id, name: 'name', value: list.name, autocomplete: 'off', required: true });
  const form = el('form', { class: 'inline-form', novalidate: true },
    el('label', { for: id }, t('rename_label', { name: list.name })), input,
    el('button', { type: 'submit', class: 'small' }, t('save')),
    el('p', { class: 'field-error', 'data-error-for': 'name' }),
    el('p', { class: 'form-error', role: 'alert', tabindex: '-1' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = input.value.trim();
    const answer = await busy(form, () => admin('PATCH', `admin/subscriptions/${encodeURIComponent(list.id)}`, { name }));
    if (!answer.ok) {
      showProblem(form, answer);
      return;
    }
    await lists();
    $('lists-status').textContent = t('list_renamed', { name: answer.data.name });
  });
  cell.replaceChildren(form);
  input.focus();
  input.select();
}

async function exportList(list, button) {
  const answer = await busy(button, () => admin('GET', `admin/subscriptions/${encodeURIComponent(list.id)}/members?format=csv`));
  if (!answer.ok) {
    failed('lists', answer);
    return;
  }
  const link = document.querySelector(`[data-download="${CSS.escape(list.id)}"]`);
  offerDownload(link, `${list.id}-members.csv`, answer.text, 'text/csv');
  link.hidden = false;
  link.focus();
}

async function deleteList(list, button) {
  if (!window.confirm(t('delete_list_confirm', { name: list.name }))) return;
  const answer = await busy(button, () => admin('DELETE', `admin/subscriptions/${encodeURIComponent(list.id)}`));
  if (!answer.ok) failed('lists', answer);
  else lists();
}

$('list-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  clear(form);
  const value = (name) => form.elements.namedItem(name).value.trim();
  const body = { id: value('id'), name: value('name') };
  if (value('description')) body.description = value('description');
  const answer = await busy(form, () => admin('POST', 'admin/subscriptions', body));
  if (!answer.ok) {
    showProblem(form, answer);
    return;
  }
  form.reset();
  say(form, t('list_added'));
  lists();
});

/** A row's button: its words, and for a screen reader the row it acts on after them. */
function rowButton(words, what, kind, onclick) {
  return el('button', { type: 'button', class: `${kind} small`, 'aria-label': `${words}: ${what}`, onclick }, words);
}

/** A list of queued and failed items with a retry button on each. */
async function retryable(name, path, retryPath, columns) {
  $(`${name}-error`).textContent = '';
  const answer = await admin('GET', path);
  if (!answer.ok) {
    failed(name, answer);
    $(`${name}-rows`).replaceChildren();
    return;
  }
  const items = rowsOf(answer.data);
  $(`${name}-rows`).replaceChildren(table(t(name), [...columns, ['retry', t('do')]], items, {
    at: (i) => when(i.at || i.created_at || i.updated_at),
    status: (i) => (i.status ? word('state', i.status) : ''),
    retry: (i) => rowButton(t('retry'), i.id, 'secondary', async (e) => {
      const done = await busy(e.target, () => admin('POST', `${retryPath}/${encodeURIComponent(i.id)}/retry`));
      if (!done.ok) failed(name, done);
      else {
        $(`${name}-status`).textContent = t('requeued');
        retryable(name, path, retryPath, columns);
      }
    }),
  }));
}

const emails = () => retryable('emails', 'admin/outbox', 'admin/outbox',
  [['id', t('id')], ['kind', t('kind')], ['status', t('status')], ['attempts', t('attempts')], ['at', t('at')], ['error', t('last_error')]]);

const webhooks = () => retryable('webhooks', 'admin/webhooks/deliveries', 'admin/webhooks/deliveries',
  [['id', t('id')], ['event', t('event')], ['status', t('status')], ['attempts', t('attempts')], ['at', t('at')], ['error', t('last_error')]]);

$('webhook-test').addEventListener('click', async (event) => {
  $('webhooks-error').textContent = '';
  const answer = await busy(event.target, () => admin('POST', 'admin/webhooks/test'));
  if (!answer.ok) failed('webhooks', answer);
  else {
    $('webhooks-status').textContent = t('test_sent');
    webhooks();
  }
});

let importText = null;

async function importScreen() {
  $('import-report').hidden = true;
  importText = null;
}

/** Shows an import answer: the errors by line and column first, or what would be done. */
function importReport(data, dryRun) {
  const errors = data.errors || [];
  const report = $('import-report');
  report.hidden = false;
  $('import-summary').textContent = errors.length
    ? t('import_refused', { n: errors.length })
    : t(dryRun ? 'import_would' : 'import_done', { created: data.created ?? 0, skipped: data.skipped ?? 0 });
  $('import-errors').replaceChildren(errors.length
    ? table(t('import_errors'), [['line', t('line')], ['column', t('column')], ['message', t('problem')]], errors)
    : '');
  $('import-run').hidden = !(dryRun && !errors.length && data.created);
  $('import-report-title').focus();
}

$('import-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  clear(form);
  $('import-status').textContent = '';
  const file = $('import-file').files[0];
  if (!file) {
    form.querySelector('.form-error').textContent = t('import_choose');
    return;
  }
  importText = await file.text();
  const answer = await busy(form, () => admin('POST', 'admin/import?dry_run=true', importText, 'text/csv'));
  if (!answer.ok && !(answer.data.errors && answer.status === 422)) {
    showProblem(form, answer);
    return;
  }
  importReport(answer.data, true);
});

$('import-run').addEventListener('click', async (event) => {
  $('import-status').textContent = t('importing');
  const answer = await busy(event.target, () => admin('POST', 'admin/import?dry_run=false', importText, 'text/csv'));
  if (!answer.ok && !answer.data.errors) {
    $('import-status').textContent = '';
    showProblem($('import-form'), answer);
    return;
  }
  $('import-status').textContent = '';
  importReport(answer.data, false);
  $('import-run').hidden = true;
});

/** The signed-in owner, whose own row offers no removal (redrawn after each change). */
let staffMe = { email: '' };

async function staff(_, me) {
  if (me) staffMe = me;
  $('staff-error').textContent = '';
  const answer = await admin('GET', 'admin/staff');
  if (!answer.ok) {
    failed('staff', answer);
    $('staff-rows').replaceChildren();
    return;
  }
  const members = rowsOf(answer.data);
  $('staff-rows').replaceChildren(table(t('staff'), [
    ['email', t('email')], ['name', t('name')], ['role', t('role')], ['do', t('do')]], members, {
    role: (m) => word('role', m.role),
    do: (m) => (m.email === staffMe.email ? '' : el('span', { class: 'row-actions' },
      roleButton(m),
      rowButton(t('reset'), m.email, 'secondary',
        (e) => staffAction(e.target, 'POST', m, '/reset', t('staff_reset_done', { email: m.email }))),
      rowButton(t('remove'), m.email, 'danger', (e) => window.confirm(t('remove_staff_confirm', { email: m.email }))
        && staffAction(e.target, 'DELETE', m, '', t('staff_removed', { email: m.email }))))),
  }));
}

async function staffAction(button, method, member, suffix, done) {
  const answer = await busy(button, () => admin(method, `admin/staff/${encodeURIComponent(member.email)}${suffix}`));
  if (!answer.ok) {
    failed('staff', answer);
    return;
  }
  await staff(null, null);
  $('staff-status').textContent = done;
}

/** The button that gives a member the other role (PATCH); their sessions end on the server. */
function roleButton(member) {
  const role = member.role === 'owner' ? 'support' : 'owner';
  return rowButton(t(`make_${role}`), member.email, 'secondary', async (e) => {
    const path = `admin/staff/${encodeURIComponent(member.email)}`;
    const answer = await busy(e.target, () => admin('PATCH', path, { role }));
    if (!answer.ok) {
      failed('staff', answer);
      return;
    }
    await staff(null, null);
    $('staff-status').textContent = t('role_changed', { email: member.email, role: word('role', role) });
  });
}

$('invite-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  clear(form);
  const value = (name) => form.elements.namedItem(name).value.trim();
  const body = { email: value('email'), role: value('role') };
  if (value('name')) body.name = value('name');
  const answer = await busy(form, () => admin('POST', 'admin/staff', body));
  if (!answer.ok) {
    showProblem(form, answer);
    return;
  }
  form.reset();
  say(form, t('invited', { email: body.email }));
  staff(null, null);
});

let auditCursor = null;

async function audit(_, __, more) {
  $('audit-error').textContent = '';
  const params = new URLSearchParams({ limit: '50' });
  if (more && auditCursor) params.set('before', auditCursor);
  const answer = await admin('GET', `admin/audit?${params}`);
  if (!answer.ok) {
    failed('audit', answer);
    return;
  }
  const events = answer.data.events || [];
  const rows = table(t('audit'), [
    ['at', t('at')], ['actor', t('actor')], ['action', t('action')], ['customer_id', t('customer')], ['ip', t('ip')], ['detail', t('detail')]], events, {
    at: (e) => when(e.at),
    customer_id: (e) => (e.customer_id ? el('a', { href: `#/customer/${e.customer_id}` }, e.customer_id) : ''),
    detail: (e) => (typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail ?? '')),
  });
  const tbody = $('audit-rows').querySelector('tbody');
  if (more && tbody && events.length) tbody.append(...rows.querySelectorAll('tbody tr'));
  else if (!more) $('audit-rows').replaceChildren(rows);
  auditCursor = events.length ? events[events.length - 1].id : null;
  $('audit-more').hidden = events.length < 50;
}

$('audit-more').addEventListener('click', () => audit(null, null, true));

/** The signed-in staff member's own sign-in: their passkeys. */
const security = passkeyForm($('security-passkey-form'));

/** Every screen by its route name. */
export const SCREENS = {
  overview, customers, customer, lists, emails, webhooks, import: importScreen, staff, audit, security,
};
