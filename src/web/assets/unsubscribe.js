// The unsubscribe link's page. The one-click button, on a click (a link preview or a mail
// scanner opening the page must not unsubscribe), POSTs this page's own URL with the RFC 8058
// form body. Below it, the preference page: the link's customer's lists, each with a pause of
// 30 or 90 days (or its early end), and "unsubscribe from everything"; each calls
// unsubscribe/<token>/{preferences,pause,resume,all} with the link's token as the credential.
import { busy, call, clearErrors, describe, t } from './api.js';

const form = document.getElementById('unsubscribe-form');
const error = document.getElementById('unsubscribe-error');
const preferences = document.getElementById('preferences');
const lists = document.getElementById('preferences-lists');
const prefsError = document.getElementById('preferences-error');
const prefsStatus = document.getElementById('preferences-status');
const everything = document.getElementById('unsubscribe-all-form');
const token = window.location.pathname.split('/').filter(Boolean).pop();
const base = `unsubscribe/${encodeURIComponent(token)}`;

/** `2027-01-04T10:00:00Z` as the page's language writes a day. */
function day(time) {
  return new Date(time).toLocaleDateString(document.documentElement.lang, { dateStyle: 'long' });
}

/** Shows the sign-off: `all` when every list was left. */
function done(all) {
  form.hidden = true;
  preferences.hidden = true;
  document.getElementById('done-text').hidden = all;
  document.getElementById('done-all-text').hidden = !all;
  const section = document.getElementById('unsubscribe-done');
  section.hidden = false;
  section.focus();
}

/** A button of one list's row: its words, and the list's name for a screen reader. */
function button(words, name, action) {
  const element = document.createElement('button');
  element.type = 'button';
  element.className = 'secondary';
  element.textContent = words;
  element.setAttribute('aria-label', t('list_action', { action: words, list: name }));
  element.addEventListener('click', action);
  return element;
}

/** Fills the lists, each with its state and the choices it has. */
function render(subscriptions) {
  lists.replaceChildren();
  for (const item of subscriptions) {
    const name = item.name || item.id;
    const row = document.createElement('li');
    const about = document.createElement('div');
    const title = document.createElement('strong');
    title.textContent = name;
    const state = document.createElement('span');
    state.className = 'meta';
    state.textContent = item.paused_until
      ? t('list_paused', { date: day(item.paused_until) })
      : t('list_receiving');
    about.append(title, state);
    const choices = document.createElement('div');
    choices.className = 'choices';
    for (const days of [30, 90]) {
      choices.append(button(t(`pause_${days}`), name, () => choose('pause', { list: item.id, days }, name)));
    }
    if (item.paused_until) {
      choices.append(button(t('resume'), name, () => choose('resume', { list: item.id }, name)));
    }
    row.append(about, choices);
    lists.append(row);
  }
}

/** Reads the link's lists; a link whose subscription has ended offers nothing more. */
async function load() {
  const result = await call('GET', `${base}/preferences`);
  if (result.ok) {
    render(result.data.subscriptions || []);
    preferences.hidden = false;
  } else if (result.data.error === 'invalid_code') {
    document.getElementById('link-ended').hidden = false;
  }
  return result;
}

/** Sends one choice (`pause` or `resume`), then shows the lists as they now are. */
async function choose(action, body, name) {
  prefsError.textContent = '';
  prefsStatus.textContent = '';
  const result = await busy(preferences, () => call('POST', `${base}/${action}`, body));
  if (!result.ok) {
    prefsError.textContent = describe(result);
    prefsError.focus();
    return;
  }
  await load();
  prefsStatus.textContent = action === 'pause'
    ? t('paused_done', { list: name, date: day(result.data.paused_until) })
    : t('resumed_done', { list: name });
}

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
  done(false);
});

everything.addEventListener('submit', async (event) => {
  event.preventDefault();
  prefsError.textContent = '';
  const result = await busy(everything, () => call('POST', `${base}/all`));
  if (!result.ok) {
    prefsError.textContent = describe(result);
    prefsError.focus();
    return;
  }
  done(true);
});

load();
