// The console's shell: sign-in with the second factor or a passkey (and the second factor's
// enrollment: a TOTP app or a passkey), the staff member's role, sign-out, and the
// `#/<screen>` routes, each drawn by console-screens.js.
import {
  admin, busy, clear, explain, offerDownload, setStaffToken, showProblem, staffToken, t, takeFlash,
  whenSessionEnds,
} from './console-api.js';
import { passkeyForm, passkeysAvailable, signInWithPasskey } from './console-passkeys.js';
import { SCREENS } from './console-screens.js';

const $ = (id) => document.getElementById(id);
const PANELS = ['signin-form', 'code-form', 'enroll', 'recovery'];
/** Screens only owners may open; a support agent is shown a refusal instead. */
const OWNER_SCREENS = new Set(['lists', 'emails', 'webhooks', 'import', 'staff']);
/** What an owner screen reads first: asked on a refusal too, so that the server's own answer
 * (403) is shown, not only the page's guess from the role. */
const OWNER_READS = { staff: 'admin/staff', emails: 'admin/outbox', webhooks: 'admin/webhooks/deliveries' };
let me = null;
let challenge = null;

function showOnly(id) {
  for (const panel of [...PANELS, ...document.querySelectorAll('.screen')]) {
    const node = typeof panel === 'string' ? $(panel) : panel;
    node.hidden = node.id !== id;
  }
  const shown = $(id);
  const heading = shown && shown.querySelector('h1');
  if (heading) heading.focus();
}

function notice(text) {
  $('notice').textContent = text;
}

function signedOut(words) {
  setStaffToken(null);
  me = null;
  $('console-nav').hidden = true;
  $('signout').hidden = true;
  $('whoami').textContent = '';
  notice(words || '');
  $('signin-form').reset();
  showOnly('signin-form');
}

whenSessionEnds(() => signedOut(t('session_over')));

/** After a token: who is signed in, and whether the session may only enroll a second factor. */
async function enter() {
  const self = await admin('GET', 'admin/staff/self');
  if (!self.ok) {
    signedOut(self.status === 401 ? t('session_over') : '');
    return;
  }
  me = self.data;
  $('whoami').textContent = t('signed_in_as', { name: me.name || me.email, role: t(`role_${me.role}`) });
  $('signout').hidden = false;
  if (me.enrollment_only) {
    await enroll();
    return;
  }
  for (const item of document.querySelectorAll('[data-role="owner"]')) item.hidden = me.role !== 'owner';
  $('console-nav').hidden = false;
  route();
}

/** "Add a passkey" on the enrollment step: a passkey is a second factor, so the session may
 * then do everything its role may. */
const enrollPasskeys = passkeyForm($('enroll-passkey-form'), enter);

async function enroll() {
  showOnly('enroll');
  clear($('enroll-passkey-form'));
  enrollPasskeys();
  const form = $('enroll-form');
  clear(form);
  const started = await admin('POST', 'admin/staff/totp');
  if (!started.ok) {
    showProblem(form, started);
    return;
  }
  const svg = new DOMParser().parseFromString(started.data.qr_svg, 'image/svg+xml').documentElement;
  const picture = document.importNode(svg, true);
  picture.setAttribute('role', 'img');
  picture.setAttribute('aria-label', t('qr_label'));
  $('qr').replaceChildren(picture);
  $('totp-secret').textContent = started.data.secret;
}

$('enroll-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  clear(form);
  const code = form.elements.namedItem('code').value.trim();
  const answer = await busy(form, () => admin('POST', 'admin/staff/totp/confirm', { code }));
  if (!answer.ok) {
    showProblem(form, answer);
    return;
  }
  const codes = answer.data.recovery_codes || [];
  $('recovery-codes').replaceChildren(...codes.map((c) => {
    const item = document.createElement('li');
    item.textContent = c;
    return item;
  }));
  offerDownload($('recovery-download'), 'recovery-codes.txt', `${codes.join('\n')}\n`);
  form.reset();
  showOnly('recovery');
});

$('recovery-done').addEventListener('click', () => {
  $('recovery-codes').replaceChildren();
  enter();
});

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  clear(form);
  notice('');
  const body = { email: $('signin-email').value.trim(), password: $('signin-password').value };
  const answer = await busy(form, () => admin('POST', 'admin/staff/login', body));
  if (answer.status === 401 && answer.data.error === 'second_factor_required') {
    challenge = answer.data.challenge;
    $('code-form').reset();
    clear($('code-form'));
    showOnly('code-form');
    $('code').focus();
    return;
  }
  if (!answer.ok) {
    showProblem(form, answer);
    return;
  }
  setStaffToken(answer.data.token);
  form.reset();
  await enter();
});

$('passkey-signin').hidden = !passkeysAvailable;
$('passkey-signin').addEventListener('click', async (event) => {
  const form = $('signin-form');
  clear(form);
  notice('');
  const answer = await busy(event.currentTarget, signInWithPasskey);
  if (answer.cancelled) {
    $('signin-error').textContent = t('staff_passkey_cancelled');
    $('signin-error').focus();
    return;
  }
  if (!answer.ok) {
    if (answer.data.error === 'invalid_credentials') {
      $('signin-error').textContent = t('error_wrong_passkey');
      $('signin-error').focus();
    } else {
      showProblem(form, answer);
    }
    return;
  }
  setStaffToken(answer.data.token);
  form.reset();
  await enter();
});

$('code-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  clear(form);
  const code = $('code').value.trim();
  const answer = await busy(form, () => admin('POST', 'admin/staff/login/second_factor', { challenge, code }));
  if (!answer.ok) {
    if (answer.data.fields && answer.data.fields.challenge) {
      signedOut(t('challenge_over'));
      return;
    }
    showProblem(form, answer);
    return;
  }
  challenge = null;
  setStaffToken(answer.data.token);
  form.reset();
  await enter();
});

$('signout').addEventListener('click', async () => {
  await admin('POST', 'admin/staff/logout');
  signedOut(t('signed_out'));
});

/** Draws the screen the URL's `#/<screen>/<argument>` names. */
async function route() {
  if (!me) return;
  const [name, ...rest] = window.location.hash.replace(/^#\/?/, '').split('/');
  const screen = SCREENS[name] ? name : 'overview';
  notice(takeFlash());
  if (OWNER_SCREENS.has(screen) && me.role !== 'owner') {
    $('refused-server').textContent = '';
    showOnly('screen-refused');
    if (OWNER_READS[screen]) {
      const answer = await admin('GET', OWNER_READS[screen]);
      if (!answer.ok) $('refused-server').textContent = t('refused_by_server', { words: explain(answer) });
    }
    return;
  }
  for (const link of document.querySelectorAll('#console-nav a')) {
    if (link.id === `nav-${screen === 'customer' ? 'customers' : screen}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  showOnly(`screen-${screen}`);
  await SCREENS[screen](decodeURIComponent(rest.join('/')), me);
}

window.addEventListener('hashchange', () => {
  // In-page jumps inside a screen (`#profile-form`) are not routes.
  if (window.location.hash.startsWith('#/')) route();
});

if (staffToken()) enter();
else signedOut();
