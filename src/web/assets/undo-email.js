// Undo of an email change: POST customers/email_change_undo with the identifier and key from
// this page's URL, on a click.
import { linkAction } from './link-action.js';

linkAction('undo', 'customers/email_change_undo');
