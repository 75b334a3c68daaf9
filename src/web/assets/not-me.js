// "This wasn't me": POST customers/not_me with the identifier and key from this page's URL, on
// a click.
import { linkAction } from './link-action.js';

linkAction('not-me', 'customers/not_me');
