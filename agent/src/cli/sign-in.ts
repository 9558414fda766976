// The CLI's half of SSO sign-in: a browser sign-in through the CLI's own loopback listener, or a
// device code shown to the person, both driven through the daemon's local API, which holds the PKCE
// verifier and receives the tokens. Every way it can end has an exit code (LOGIN_EXIT_CODES) and a
// sentence that names what went wrong and the one command that fixes it.
import { callLocalApi, DaemonUnreachableError, type LocalApiReply } from '../localapi/index.ts';
import { openBrowser as defaultOpenBrowser, type BrowserCommand } from './browser.ts';
import { startDaemonCommand, type DaemonLocation } from './local-daemon.ts';
import { listenForCallback } from './loopback-callback.ts';

/** `heimdall login`'s exit codes (documented in its --help and docs/configuration.md). */
export const LOGIN_EXIT_CODES = {
  /** Signed in (now, or already with --if-needed). */
  signed_in: 0,
  /** The sign-in was refused or failed (the gateway, the IdP, the person declined). */
  failed: 1,
  /** Wrong use of the command. */
  usage: 2,
  /** The daemon is not running. */
  daemon_not_running: 3,
  /** Not signed in: no browser could be opened (--if-needed), or the sign-in did not come back in time. */
  not_signed_in: 4,
  /** Sign-in is not possible here now: no gateway configured, the gateway unreachable or without SSO. */
  sso_unavailable: 5,
} as const;

export type LoginOutcome = keyof typeof LOGIN_EXIT_CODES;

export interface SignInIo {
  /** Lines for the person (stdout). */
  say(line: string): void;
  /** Problems (stderr). */
  warn(line: string): void;
}

export interface SignInContext {
  socket: string;
  location: DaemonLocation;
  io: SignInIo;
  openBrowser?: (url: string) => Promise<BrowserCommand | undefined>;
  /** How long to wait for the browser or the device code (default: the daemon's 10 minutes). */
  waitMs?: number;
}

interface ApiError {
  error?: string;
  code?: string;
}

export interface LoginOptionsReply extends ApiError {
  sso?: boolean;
  virtual_key?: boolean;
  gateway?: string;
}

export interface WhoAmIReply extends ApiError {
  os_user?: string;
  signed_in?: boolean;
  method?: 'sso' | 'virtual_key' | null;
  user?: { id: string; email: string | null; name: string | null } | null;
  access_expires_at?: string | null;
  refresh_error?: string | null;
  device_id?: string;
}

const WAIT_MS = 10 * 60_000;

/** An error the CLI prints and exits with; the message already names the fix. */
export class SignInFailure extends Error {
  readonly outcome: LoginOutcome;
  constructor(outcome: LoginOutcome, message: string) {
    super(message);
    this.outcome = outcome;
  }
}

/** A local API call whose non-2xx answer becomes a SignInFailure with the daemon's sentence. */
export async function api<T>(ctx: SignInContext, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 60_000): Promise<LocalApiReply<T & ApiError>> {
  try {
    return await callLocalApi<T & ApiError>(ctx.socket, method, path, body, timeoutMs);
  } catch (err) {
    if (err instanceof DaemonUnreachableError) {
      throw new SignInFailure('daemon_not_running', `${err.message}. Start it with: ${startDaemonCommand(ctx.location)}`);
    }
    throw err;
  }
}

/** The outcome a daemon refusal maps to, from its code (LoginError codes, local API codes). */
function outcomeOf(code: string | undefined): LoginOutcome {
  if (code === 'unreachable' || code === 'invalid_control_url' || code === 'not_available') return 'sso_unavailable';
  return 'failed';
}

function refused(reply: LocalApiReply<ApiError>, what: string): SignInFailure {
  const sentence = reply.body?.error ?? `the daemon answered HTTP ${reply.status} to ${what}`;
  // The daemon's sentences name their fix; a bare one gets the generic retry.
  const fix = /`heimdall [^`]+`|heimdall-gateway|ask IT|contact IT/i.test(sentence) ? '' : ' Then run `heimdall login` again.';
  return new SignInFailure(outcomeOf(reply.body?.code), `${sentence}${fix}`);
}

export async function loginOptions(ctx: SignInContext): Promise<LoginOptionsReply> {
  const reply = await api<LoginOptionsReply>(ctx, 'GET', '/v1/login/options');
  if (reply.status !== 200) throw refused(reply, 'the sign-in options');
  return reply.body;
}

export async function whoami(ctx: SignInContext): Promise<WhoAmIReply> {
  const reply = await api<WhoAmIReply>(ctx, 'GET', '/v1/whoami');
  if (reply.status !== 200) throw refused(reply, 'whoami');
  return reply.body;
}

/** Whether `who` needs no new sign-in: signed in, and not with a sign-in the gateway stopped accepting. */
export function signedInWell(who: WhoAmIReply, now = Date.now()): boolean {
  if (!who.signed_in) return false;
  if (who.method !== 'sso') return true;
  const expired = who.access_expires_at ? Date.parse(who.access_expires_at) <= now : true;
  return !(who.refresh_error && expired);
}

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new SignInFailure('not_signed_in', message)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

interface SignedIn {
  os_user?: string;
  user?: { id?: string; email?: string | null; name?: string | null };
  device_id?: string;
}

export function signedInLine(r: SignedIn): string {
  const who = r.user?.email ?? r.user?.name ?? r.user?.id ?? 'your gateway user';
  return `Signed in as ${who} (OS user ${r.os_user ?? '?'}) on device ${r.device_id ?? '?'}. Your AI apps now reach the gateway as you.`;
}

/**
 * Browser sign-in: the loopback listener, the daemon's authorize URL, the browser, the code back to
 * the daemon. `quiet` (--if-needed): when no browser can be opened, give up instead of asking the
 * person to copy the URL.
 */
export async function browserSignIn(ctx: SignInContext, options: { quiet: boolean }): Promise<SignedIn> {
  const listener = await listenForCallback();
  try {
    const started = await api<{ authorize_url: string; state: string }>(ctx, 'POST', '/v1/login/sso/start', { redirect_uri: listener.redirectUri });
    if (started.status !== 200) throw refused(started, 'the sign-in start');
    const { authorize_url: url, state } = started.body;
    const opened = await (ctx.openBrowser ?? defaultOpenBrowser)(url);
    if (!opened) {
      if (options.quiet) throw new SignInFailure('not_signed_in', 'no browser could be opened in this session (set $BROWSER, or install xdg-open); sign in from a terminal with `heimdall login --device-code`');
      ctx.io.warn(`Could not open a browser here. Open this address in a browser on this machine:\n  ${url}\n(or sign in from another device with \`heimdall login --device-code\`)`);
    } else if (!options.quiet) {
      ctx.io.say(`Opened your browser to sign in with your organization. If it did not appear, open:\n  ${url}`);
    }
    const { result, reply } = await withTimeout(listener.wait(state), ctx.waitMs ?? WAIT_MS, 'no sign-in came back from the browser within 10 minutes: run `heimdall login` again');
    if ('error' in result) {
      const why = result.description ?? result.error;
      reply({ ok: false, title: 'Sign-in failed', text: `${why}. Close this tab and run heimdall login again.` });
      throw new SignInFailure('failed', `the sign-in was refused: ${why}. Run \`heimdall login\` again${result.error === 'access_denied' ? ' (or ask IT whether your account may use AI tools)' : ''}`);
    }
    const finished = await api<SignedIn>(ctx, 'POST', '/v1/login/sso/finish', { state, code: result.code });
    if (finished.status !== 200) {
      const failure = refused(finished, 'the sign-in finish');
      reply({ ok: false, title: 'Sign-in failed', text: `${failure.message} You can close this tab.` });
      throw failure;
    }
    reply({ ok: true, title: 'Signed in to Heimdall', text: `You are signed in${finished.body.user?.email ? ` as ${finished.body.user.email}` : ''}. You can close this tab.` });
    return finished.body;
  } finally {
    listener.close();
  }
}

interface DeviceStart {
  login_id: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string | null;
  expires_in: number;
  interval: number;
}

/** Device-code sign-in: prints the code and where to enter it, then waits for the daemon to see it completed. */
export async function deviceCodeSignIn(ctx: SignInContext, sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))): Promise<SignedIn> {
  const started = await api<DeviceStart>(ctx, 'POST', '/v1/login/device/start');
  if (started.status !== 200) throw refused(started, 'the device sign-in start');
  const d = started.body;
  ctx.io.say(`To sign in, open ${d.verification_uri} in a browser on any device and enter the code:\n\n    ${d.user_code}\n`);
  if (d.verification_uri_complete) ctx.io.say(`(or open ${d.verification_uri_complete})`);
  ctx.io.say(`Waiting for you to finish signing in (the code is valid for ${Math.round(d.expires_in / 60)} minutes)...`);
  const deadline = Date.now() + Math.min(ctx.waitMs ?? WAIT_MS, d.expires_in * 1000 + 30_000);
  for (;;) {
    const polled = await api<{ state: 'pending' | 'done' | 'failed'; error?: string; user?: SignedIn['user'] }>(ctx, 'GET', `/v1/login/device/${encodeURIComponent(d.login_id)}`);
    if (polled.status !== 200) throw refused(polled, 'the device sign-in state');
    if (polled.body.state === 'done') {
      const who = await whoami(ctx);
      return { os_user: who.os_user, user: polled.body.user ?? who.user ?? undefined, device_id: who.device_id };
    }
    if (polled.body.state === 'failed') throw new SignInFailure('failed', `${polled.body.error ?? 'the device sign-in failed'}`);
    if (Date.now() > deadline) throw new SignInFailure('not_signed_in', 'the device code was not used in time: run `heimdall login --device-code` again');
    await sleep(1000);
  }
}
