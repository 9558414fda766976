// `heimdall run` never starts on a guess: every flag value it does not accept, and a --config file
// that is missing, unreadable or malformed, stops it before anything starts, with a message naming
// the flag, the value and what is accepted. The real CLI, as a child process.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HEIMDALL_BIN, runToEnd } from '../helpers/process.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'heimdall-run-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stateDir = path.join(dir, 'state');
const heimdall = (...args: string[]): ReturnType<typeof runToEnd> => runToEnd(process.execPath, [HEIMDALL_BIN, ...args]);

/** Runs `heimdall run` with `flags` and asserts it refused to start with exactly these messages. */
async function expectRefused(flags: string[], messages: string[]): Promise<void> {
  const r = await heimdall('run', '--state-dir', stateDir, ...flags);
  expect({ flags, code: r.code, stderr: r.stderr }).toEqual({
    flags,
    code: 2,
    stderr: [...messages.map((m) => `heimdall run: ${m}`), 'heimdall run: not started; see `heimdall run --help`', ''].join('\n'),
  });
  expect(r.stdout).toBe('');
  // Nothing started: no state directory, no socket.
  expect(existsSync(stateDir)).toBe(false);
}

describe('heimdall run refuses flag values it does not accept', { timeout: 120_000 }, () => {
  it.each([
    [['--proxy-port', 'abc'], '--proxy-port (config key "proxy_port"): expected an integer 1-65535, got "abc"'],
    [['--proxy-port', '70000'], '--proxy-port (config key "proxy_port"): expected an integer 1-65535, got "70000"'],
    [['--pac-port', '0'], '--pac-port (config key "pac_port"): expected an integer 1-65535, got "0"'],
    [['--metrics-port', '80a'], '--metrics-port (config key "metrics_port"): expected an integer 1-65535, got "80a"'],
    [['--intercept', 'maybe'], '--intercept (config key "intercept"): expected true or false, got "maybe"'],
    [['--ca-mode', 'foo'], '--ca-mode (config key "ca_mode"): expected one of "local", "gateway", got "foo"'],
    [['--log-level', 'loud'], '--log-level (config key "log_level"): expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "loud"'],
    [['--gateway-url', 'ftp://gw.example'], '--gateway-url (config key "gateway_url"): expected a URL (https, http), got "ftp://gw.example"'],
    [['--control-url', 'gw.example'], '--control-url (config key "control_url"): expected a URL (https, http, wss, ws), got "gw.example"'],
    [['--support-url', 'file:///etc/passwd'], '--support-url (config key "support_url"): expected a URL (https, http, mailto), got "file:///etc/passwd"'],
    [['--organization', ' '], '--organization (config key "organization"): expected a string of at most 200 characters, got " "'],
    [['--grace', 'soon'], '--grace: expected a number of seconds, 0 or more, got "soon"'],
    [['--grace', '-1'], '--grace: expected a number of seconds, 0 or more, got "-1"'],
  ])('%j', async (flags, message) => {
    await expectRefused(flags, [message]);
  });

  it('names every bad flag at once', async () => {
    await expectRefused(
      ['--proxy-port', 'abc', '--intercept', 'maybe', '--grace', 'x'],
      [
        '--grace: expected a number of seconds, 0 or more, got "x"',
        '--proxy-port (config key "proxy_port"): expected an integer 1-65535, got "abc"',
        '--intercept (config key "intercept"): expected true or false, got "maybe"',
      ],
    );
  });

  it('refuses a --config file that is missing, not a file, too large or not valid JSON, naming its path', async () => {
    const missing = path.join(dir, 'none.json');
    await expectRefused(['--config', missing], [`--config ${missing}: no such file; give an existing managed config file (JSON), or leave --config out to use the platform's`]);

    const folder = path.join(dir, 'a-folder');
    mkdirSync(folder);
    await expectRefused(['--config', folder], [`--config ${folder}: cannot use it: it is not a regular file`]);

    const huge = path.join(dir, 'huge.json');
    writeFileSync(huge, `{"organization": "${'x'.repeat(1024 * 1024)}"}`);
    await expectRefused(['--config', huge], [`--config ${huge}: cannot use it: it is ${1024 * 1024 + 20} bytes, over the 1048576-byte limit for a config file`]);

    const malformed = path.join(dir, 'malformed.json');
    writeFileSync(malformed, '{"gateway_url": "https://gw.example",');
    const r = await heimdall('run', '--state-dir', stateDir, '--config', malformed);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^heimdall run: --config ${malformed.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: cannot use it: it is not valid JSON: `));

    const list = path.join(dir, 'list.json');
    writeFileSync(list, '[]');
    await expectRefused(['--config', list], [`--config ${list}: cannot use it: its top level must be a JSON object of settings`]);
  });

  it('refuses a --state-dir that is a file', async () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, '');
    const r = await heimdall('run', '--state-dir', file);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`heimdall run: --state-dir ${file}: expected a directory (created when missing), got a file\nheimdall run: not started; see \`heimdall run --help\`\n`);
  });

  it('says in its help that flags are checked and how it exits', async () => {
    const help = await heimdall('run', '--help');
    expect(help.stdout).toContain('stops it with exit code 2 and a message naming the flag');
  });
});

describe('the other agent commands refuse values they do not accept', { timeout: 120_000 }, () => {
  it('heimdall env --shell', async () => {
    const r = await heimdall('env', '--shell', 'tcsh', '--state-dir', stateDir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('heimdall env: --shell: expected one of "sh", "fish", "powershell", got "tcsh"\n');
  });

  it('heimdall ca <what>', async () => {
    const r = await heimdall('ca', 'key', '--state-dir', stateDir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('heimdall ca: <what>: expected one of "path", "pem", "fingerprint", got "key"\n');
  });

  it('an empty --socket or --state-dir, instead of falling back to the machine\'s daemon', async () => {
    const apps = await heimdall('apps', '--socket', '');
    expect(apps.code).toBe(1);
    expect(apps.stderr).toBe('heimdall: --socket: expected the path of the daemon\'s local API socket, got ""\n');
    const status = await heimdall('status', '--json', '--state-dir', '');
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toEqual({
      governed: false, reason: 'error', reasons: ['error'], signed_in_users: [], error: '--state-dir: expected the state directory of a development daemon, got ""',
    });
  });

  it('an unknown flag or a missing value, for every command', async () => {
    for (const cmd of ['status', 'login', 'logout', 'env', 'exec', 'apps', 'mcp', 'ca', 'run', 'version']) {
      const r = await heimdall(cmd, '--no-such-flag');
      expect({ cmd, code: r.code }).toEqual({ cmd, code: 1 });
      expect(r.stderr).toContain("error: unknown option '--no-such-flag'");
    }
    const missing = await heimdall('run', '--proxy-port');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("error: option '--proxy-port <value>' argument missing");
  });
});
