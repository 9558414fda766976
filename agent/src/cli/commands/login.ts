// `heimdall login --virtual-key`: reads the user's virtual key from stdin (piped) or a prompt that
// does not echo (terminal), never from argv (argv is visible in `ps` and lands in shell history), and
// hands it to the daemon over the local API, which enrolls the device and stores the key.
import type { Command } from 'commander';
import { callLocalApi, DaemonUnreachableError } from '../../localapi/index.ts';
import { socketPathFor, withDaemonLocation, type DaemonLocation } from '../local-daemon.ts';

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

export function registerLogin(program: Command): void {
  withDaemonLocation(
    program
      .command('login')
      .description("Sign this OS user in to the organization's AI gateway and enroll the device (until SSO: with a virtual key)")
      .option('--virtual-key', 'sign in with a virtual key (sk-bf-...) read from stdin or a hidden prompt, never from the command line')
      // Declared so that a key pasted after the flag is caught and refused instead of silently ignored.
      .argument('[unexpected]'),
  )
    .addHelpText(
      'after',
      '\nThe key is read from stdin when it is piped, otherwise from a prompt that does not echo.\n' +
        'Never put it on the command line: other users see it in the process list and it stays in shell history.\n\n' +
        'Examples:\n  heimdall login --virtual-key\n  printf %s "$BF_VIRTUAL_KEY" | heimdall login --virtual-key\n',
    )
    .action(async (unexpected: string | undefined, opts: DaemonLocation & { virtualKey?: boolean }) => {
      if (unexpected !== undefined) {
        const looksLikeKey = unexpected.startsWith('sk-');
        console.error(
          looksLikeKey
            ? 'heimdall login: refusing a key given on the command line (visible in the process list and shell history).\n' +
                'Pipe it instead: printf %s "$KEY" | heimdall login --virtual-key — and consider rotating that key.'
            : 'heimdall login: unexpected argument; the key is read from stdin or a hidden prompt, never from the command line.',
        );
        process.exitCode = 2;
        return;
      }
      if (!opts.virtualKey) {
        console.error('heimdall login: single sign-on is not available yet; use `heimdall login --virtual-key`.');
        process.exitCode = 2;
        return;
      }
      let key: string;
      try {
        key = await readVirtualKey({ stdin: process.stdin, prompt: process.stderr });
      } catch (err) {
        console.error(`heimdall login: ${(err as Error).message}`);
        process.exitCode = 2;
        return;
      }
      try {
        const reply = await callLocalApi<LoginReply>(socketPathFor(opts), 'POST', '/v1/login', { virtual_key: key }, 30_000);
        if (reply.status !== 200) {
          console.error(`heimdall login: ${reply.body?.error ?? `the daemon answered ${reply.status}`}`);
          process.exitCode = 1;
          return;
        }
        const who = reply.body.user?.email ?? reply.body.user?.id ?? 'your gateway user';
        console.log(`Signed in as ${who} (OS user ${reply.body.os_user ?? '?'}); device ${reply.body.device_id ?? '?'} is enrolled.`);
      } catch (err) {
        if (err instanceof DaemonUnreachableError) {
          console.error(`heimdall login: ${err.message}`);
          process.exitCode = 3;
          return;
        }
        throw err;
      }
    });
}
