// The page an SSO sign-in ends on. It sets the session cookie and moves on to the overview itself (a
// meta refresh) instead of answering with a redirect: the IdP's redirect back is a cross-site
// navigation, and a browser does not send a SameSite=Strict cookie on a redirect that follows one, so
// the overview would ask to sign in again. The refresh is the console's own, same-site, navigation.
import { html, type Html } from './html.ts';
import { barePage } from './layout.ts';

export function signedInPage(who: string): Html {
  return barePage('Signed in', html`<p>Signed in as <strong>${who}</strong>. <a href="/console/">Continue to the console</a>.</p>`, '/console/');
}
