// The demo mailbox refreshes its list every few seconds, so a new email shows up by itself.
const list = document.getElementById('mail-list') || document.getElementById('mail-empty');
if (list) {
  setInterval(() => {
    if (document.visibilityState === 'visible' && !document.activeElement?.closest('#mail-list')) {
      window.location.reload();
    }
  }, 5000);
}
