// Two-step sign-in on the account page: turning it on (POST customers/totp: the QR code the
// server draws and the key as text; POST customers/totp/confirm: the ten recovery codes, shown
// once and offered as a file), since when it is on (GET customers/totp), and turning it off
// (DELETE customers/totp). Both changes need a recent sign-in: api.js asks for the password.
import { busy, call, clearErrors, showStatus, t } from './api.js';

const $ = (id) => document.getElementById(id);
const form = $('totp-form');
const PARTS = ['totp-off', 'totp-enroll', 'totp-recovery', 'totp-on'];
// The SVG namespace, as the HTML parser gives it to an <svg> element.
const SVG = new DOMParser().parseFromString('<svg></svg>', 'text/html').querySelector('svg').namespaceURI;
/** What a QR code is drawn with: these elements, with these attributes, and nothing else. */
const DRAWING = {
  svg: ['viewBox', 'width', 'height', 'shape-rendering'],
  rect: ['x', 'y', 'width', 'height', 'fill'],
  path: ['d', 'fill'],
};

let handle = () => {};
let changed = () => {};
let download = '';

function show(part) {
  for (const id of PARTS) $(id).hidden = id !== part;
}

function when(text) {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toLocaleString();
}

/** A copy of the server's SVG drawing with only what draws a QR code: never a script, a
 * link or a style, whatever the markup held. */
function drawing(node) {
  const allowed = node.namespaceURI === SVG && DRAWING[node.localName];
  if (!allowed) return null;
  const copy = document.createElementNS(SVG, node.localName);
  for (const name of allowed) {
    if (node.hasAttribute(name)) copy.setAttribute(name, node.getAttribute(name));
  }
  for (const child of node.children) {
    const part = drawing(child);
    if (part) copy.append(part);
  }
  return copy;
}

/** Forgets the recovery codes shown: off the page, and their file with them. */
function forgetCodes() {
  $('totp-recovery-codes').replaceChildren();
  const link = $('totp-recovery-download');
  link.removeAttribute('href');
  if (download) URL.revokeObjectURL(download);
  download = '';
}

async function fill() {
  const result = await call('GET', 'customers/totp', undefined, true);
  if (!result.ok) {
    handle(form, result);
    return;
  }
  const { enabled } = result.data;
  if (enabled) {
    $('totp-since').textContent = t('totp_since', {
      when: when(result.data.added_at),
      count: result.data.recovery_codes_left,
    });
  }
  show(enabled ? 'totp-on' : 'totp-off');
}

/** Shows whether two-step sign-in is on; `onChange` runs after it is turned on or off. */
export async function showTotp(onError, onChange) {
  handle = onError;
  changed = onChange;
  forgetCodes();
  await fill();
}

/** Runs `work` with `button` disabled. */
async function pressed(button, work) {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

$('totp-start').addEventListener('click', async (event) => {
  clearErrors(form);
  const result = await pressed(event.target, () => call('POST', 'customers/totp', undefined, true));
  if (!result.ok) {
    handle(form, result);
    return;
  }
  const parsed = new DOMParser().parseFromString(result.data.qr_svg, 'image/svg+xml');
  const picture = drawing(parsed.documentElement);
  if (picture) picture.setAttribute('aria-hidden', 'true');
  $('totp-qr').replaceChildren(...(picture ? [picture] : []));
  $('totp-secret').textContent = result.data.secret;
  form.elements.namedItem('code').value = '';
  show('totp-enroll');
  $('totp-code').focus();
});

$('totp-cancel').addEventListener('click', () => {
  clearErrors(form);
  $('totp-qr').replaceChildren();
  $('totp-secret').textContent = '';
  show('totp-off');
  $('totp-start').focus();
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if ($('totp-enroll').hidden) return;
  clearErrors(form);
  const code = form.elements.namedItem('code').value.replace(/\s/g, '');
  const result = await busy(form, () => call('POST', 'customers/totp/confirm', { code }, true));
  if (!result.ok) {
    handle(form, result);
    if (result.data.error === 'invalid_code') form.querySelector('.form-error').textContent = form.dataset.wrong;
    return;
  }
  const codes = result.data.recovery_codes || [];
  $('totp-recovery-codes').replaceChildren(...codes.map((code) => {
    const item = document.createElement('li');
    item.textContent = code;
    return item;
  }));
  download = URL.createObjectURL(new Blob([`${codes.join('\n')}\n`], { type: 'text/plain' }));
  $('totp-recovery-download').href = download;
  $('totp-qr').replaceChildren();
  $('totp-secret').textContent = '';
  show('totp-recovery');
  showStatus(form, t('totp_added'));
  $('totp-recovery').focus();
  changed();
});

$('totp-recovery-done').addEventListener('click', async () => {
  clearErrors(form);
  forgetCodes();
  await fill();
  $('totp-remove').focus();
});

$('totp-remove').addEventListener('click', async (event) => {
  clearErrors(form);
  const result = await pressed(event.target, () => call('DELETE', 'customers/totp', undefined, true));
  if (!result.ok) {
    handle(form, result);
    return;
  }
  await fill();
  showStatus(form, t('totp_removed'));
  $('totp-start').focus();
  changed();
});
