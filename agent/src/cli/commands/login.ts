// `heimdall login`: single sign-on in the browser with the organization's IdP (the gateway is the
// authorization server; cli/sign-in.ts), `--device-code` for a session without a browser,
// `--if-needed` for the per-user autostart entry, and `--virtual-key` where the organization still
// allows it: the key read from stdin (piped) or a prompt that does not echo, never from argv (argv is
// visible in `ps` and lands in shell history).
import type { Command } from 'commander';
import { socketPathFor, withDaemonLocation, type DaemonLocation } from '../local-daemon.ts';
import { api, browserSignIn, deviceCodeSignIn, LOGIN_EXIT_CODES, loginOptions, signedInLine, signedInWell, SignInFailure, whoami, type SignInContext } from '../sign-in.ts';

/** Longest input accepted from stdin or the prompt (a virtual key is ~40-200 characters). */
const MAX_INPUT_BYTES = 4096;

export class KeyInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyInputError';
  }
}

export interface KeyInput {
  stdin: NodeJS.ReadStream | NodeJS.ReadableStream;
  /** Where the prompt goes (stderr, so stdout stays clean for scripts). */
  prompt: NodeJS.WritableStream;
}

/** Reads all of a piped stdin (bounded) and returns it trimmed. */
export async function readKeyFromPipe(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > MAX_INPUT_BYTES) throw new KeyInputError(`stdin holds more than ${MAX_INPUT_BYTES} bytes; pipe only the virtual key`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8').trim();
}

/**
 * Prompts on a terminal with echo off (raw mode): characters are read one by one and nothing is
 * written back but the prompt. Enter finishes, Backspace deletes, Ctrl-C and Ctrl-D abort.
 */
export function promptHidden(stdin: NodeJS.ReadStream, prompt: NodeJS.WritableStream, question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let value = '';
    const wasRaw = stdin.isRaw;
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      prompt.write('\n');
      if (err) reject(err);
      else resolve(value.trim());
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new KeyInputError('cancelled'));
        if (ch === '\u0004') return value === '' ? finish(new KeyInputError('cancelled')) : finish();
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
        if (value.length > MAX_INPUT_BYTES) return finish(new KeyInputError('input too long for a virtual key'));
      }
    };
    // Echo off before the prompt appears, so nothing typed early is echoed by the terminal.
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
    prompt.write(question);
  });
}

/** The key from a piped stdin, or from a hidden prompt when stdin is a terminal. */
export async function readVirtualKey(input: KeyInput): Promise<string> {
  const stdin = input.stdin as NodeJS.ReadStream;
  const key = stdin.isTTY ? await promptHidden(stdin, input.prompt, 'Virtual key (input hidden): ') : await readKeyFromPipe(stdin);
  if (key === '') throw new KeyInputError('no virtual key given: pipe it on stdin or type it at the prompt');
  return key;
}

/** What the daemon's `POST /v1/login` answers. */
export interface LoginReply {
  os_user?: string;
  device_id?: string;
  user?: { id?: string; email?: string };
  error?: string;
  code?: string;
}

interface LoginFlags extends DaemonLocation {
  virtualKey?: boolean;
  deviceCode?: boolean;
  ifNeeded?: boolean;
}

const EXIT_HELP = [
  '',
  'Exit codes:',
  `  ${LOGIN_EXIT_CODES.signed_in}  signed in (with --if-needed: also when already signed in; nothing is printed then)`,
  `  ${LOGIN_EXIT_CODES.failed}  the sign-in was refused or failed (the message says why and what to run)`,
  `  ${LOGIN_EXIT_CODES.usage}  wrong use of the command`,
  `  ${LOGIN_EXIT_CODES.daemon_not_running}  the Heimdall daemon is not running`,
  `  ${LOGIN_EXIT_CODES.not_signed_in}  not signed in: no browser could be opened (--if-needed), or the sign-in did not come back within 10 minutes`,
  `  ${LOGIN_EXIT_CODES.sso_unavailable}  sign-in is not possible now: no gateway configured, the gateway unreachable, or it offers no single sign-on`,
  '',
].join('\n');

async function virtualKeyLogin(ctx: SignInContext): Promise<void> {
  // Asked first so a person is not made to paste a key the organization will refuse anyway.
  const options = await loginOptions(ctx).catch((err: unknown) => {
    // An older gateway has no discovery: the key route still decides.
    if (err instanceof SignInFailure && err.outcome === 'daemon_not_running') throw err;
    return undefined;
  });
  if (options && options.virtual_key === false) {
    throw new SignInFailure('failed', 'your organization does not allow signing in with a virtual key: run `heimdall login` to sign in with your organization\'s single sign-on');
  }
  let key: string;
  try {
    key = await readVirtualKey({ stdin: process.stdin, prompt: process.stderr });
  } catch (err) {
    throw new SignInFailure('usage', `${(err as Error).message}`);
  }
  const reply = await api<LoginReply>(ctx, 'POST', '/v1/login', { virtual_key: key }, 30_000);
  if (reply.status !== 200) throw new SignInFailure('failed', reply.body?.error ?? `the daemon answered ${reply.status}`);
  const who = reply.body.user?.email ?? reply.body.user?.id ?? 'your gateway user';
  ctx.io.say(`Signed in as ${who} (OS user ${reply.body.os_user ?? '?'}); device ${reply.body.device_id ?? '?'} is enrolled.`);
}

async function ssoLogin(ctx: SignInContext, flags: LoginFlags): Promise<void> {
  if (flags.ifNeeded && signedInWell(await whoami(ctx))) return;
  const options = await loginOptions(ctx);
  if (!options.sso) {
    throw new SignInFailure(
      'sso_unavailable',
      options.virtual_key
        ? `the gateway at ${options.gateway ?? '?'} offers no single sign-on yet: sign in with \`heimdall login --virtual-key\` and the key IT gave you`
        : `the gateway at ${options.gateway ?? '?'} offers no single sign-on yet, and virtual keys are not allowed: ask IT to set up sign-in`,
    );
  }
  const done = flags.deviceCode ? await deviceCodeSignIn(ctx) : await browserSignIn(ctx, { quiet: flags.ifNeeded === true });
  ctx.io.say(signedInLine(done));
}

export function registerLogin(program: Command): void {
  withDaemonLocation(
    program
      .command('login')
      .description("Sign this OS user in to the organization's AI gateway with single sign-on (opens the browser)")
      .option('--device-code', 'sign in on another device: print a code and an address instead of opening a browser here')
      .option('--if-needed', 'do nothing when already signed in; otherwise open one browser tab, never a prompt (what the per-user autostart runs)')
      .option('--virtual-key', 'sign in with a virtual key (sk-bf-...) read from stdin or a hidden prompt, where the organization allows it')
      // Declared so that a key pasted after the flag is caught and refused instead of silently ignored.
      .argument('[unexpected]'),
  )
    .addHelpText(
      'after',
      `${EXIT_HELP}\nWith --virtual-key the key is read from stdin when it is piped, otherwise from a prompt that does not echo.\n` +
        'Never put it on the command line: other users see it in the process list and it stays in shell history.\n\n' +
        'Examples:\n  heimdall login\n  heimdall login --device-code\n  heimdall login --if-needed\n  printf %s "$BF_VIRTUAL_KEY" | heimdall login --virtual-key\n',
    )
    .action(async (unexpected: string | undefined, opts: LoginFlags) => {
      if (unexpected !== undefined) {
        const looksLikeKey = unexpected.startsWith('sk-');
        console.error(
          looksLikeKey
            ? 'heimdall login: refusing a key given on the command line (visible in the process list and shell history).\n' +
                'Pipe it instead: printf %s "$KEY" | heimdall login --virtual-key — and consider rotating that key.'
            : 'heimdall login: unexpected argument; the key is read from stdin or a hidden prompt, never from the command line.',
        );
        process.exitCode = LOGIN_EXIT_CODES.usage;
        return;
      }
      const modes = [opts.virtualKey, opts.deviceCode, opts.ifNeeded].filter(Boolean).length;
      if (modes > 1) {
        console.error('heimdall login: choose one of --virtual-key, --device-code and --if-needed');
        process.exitCode = LOGIN_EXIT_CODES.usage;
        return;
      }
      const ctx: SignInContext = {
        socket: socketPathFor(opts),
        location: opts,
        io: { say: (line) => console.log(line), warn: (line) => console.error(line) },
      };
      try {
        if (opts.virtualKey) await virtualKeyLogin(ctx);
        else await ssoLogin(ctx, opts);
        process.exitCode = LOGIN_EXIT_CODES.signed_in;
      } catch (err) {
        if (!(err instanceof SignInFailure)) throw err;
        console.error(`heimdall login: ${err.message}`);
        process.exitCode = LOGIN_EXIT_CODES[err.outcome];
      }
    });
}

