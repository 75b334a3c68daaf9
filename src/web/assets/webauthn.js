// The browser's side of a passkey ceremony, for the customer pages (passkeys.js) and the
// console (console-passkeys.js) alike: the server's options turned into what
// `navigator.credentials` takes, and the credential it makes turned back into the JSON the
// API takes (binary values in base64url).

/** Whether this browser can use passkeys at all. */
export const webauthnAvailable = Boolean(window.PublicKeyCredential && navigator.credentials);

function toBytes(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function toText(buffer) {
  let binary = '';
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function withIds(list) {
  return (list || []).map((c) => ({ ...c, id: toBytes(c.id) }));
}

/** The browser's credential as the API takes it: binary values in base64url. */
function credentialJson(credential) {
  const r = credential.response;
  const response = { clientDataJSON: toText(r.clientDataJSON) };
  const extensions = credential.getClientExtensionResults();
  const out = { id: credential.id, rawId: toText(credential.rawId), type: credential.type, response };
  if (r.attestationObject) {
    response.attestationObject = toText(r.attestationObject);
    if (r.getTransports) response.transports = r.getTransports();
    out.clientExtensionResults = extensions.credProps ? { credProps: extensions.credProps } : {};
  } else {
    response.authenticatorData = toText(r.authenticatorData);
    response.signature = toText(r.signature);
    if (r.userHandle) response.userHandle = toText(r.userHandle);
    out.clientExtensionResults = {};
  }
  return out;
}

/** The browser's dialog, or null when the person closed it (or it timed out). */
async function ask(work) {
  try {
    return await work();
  } catch (error) {
    if (error && (error.name === 'NotAllowedError' || error.name === 'AbortError')) return null;
    throw error;
  }
}

/** Creates a passkey with the options of a begun registration; answers the credential's JSON,
 * or null when the dialog was closed. */
export async function createCredential(options) {
  const publicKey = { ...options.publicKey };
  publicKey.challenge = toBytes(publicKey.challenge);
  publicKey.user = { ...publicKey.user, id: toBytes(publicKey.user.id) };
  publicKey.excludeCredentials = withIds(publicKey.excludeCredentials);
  const credential = await ask(() => navigator.credentials.create({ publicKey }));
  return credential && credentialJson(credential);
}

/** Signs with a passkey the browser offers, for the options of a begun sign-in; answers the
 * assertion's JSON, or null when the dialog was closed. */
export async function getCredential(options) {
  const publicKey = { ...options.publicKey };
  publicKey.challenge = toBytes(publicKey.challenge);
  publicKey.allowCredentials = withIds(publicKey.allowCredentials);
  const credential = await ask(() => navigator.credentials.get({ publicKey }));
  return credential && credentialJson(credential);
}
