// Opening the browser for `heimdall login`: the command lines per OS and from $BROWSER (pure), a
// real $BROWSER program started with the URL as one argument, and the CLI's loopback listener
// answering only the sign-in it waits for.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { browserCommands, browserEnvCommands, openBrowser, platformBrowserCommand, splitCommandLine } from '../../agent/src/cli/browser.ts';
import { listenForCallback } from '../../agent/src/cli/loopback-callback.ts';

const URL_WITH_QUERY = 'https://gw.example/oauth/authorize?response_type=code&client_id=heimdall-agent&state=a%20b&x=$(id)';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('browser command lines', () => {
  it('uses open, xdg-open and start (through cmd, the URL quoted so & cannot split it)', () => {
    expect(platformBrowserCommand(URL_WITH_QUERY, 'darwin')).toEqual({ command: 'open', args: [URL_WITH_QUERY] });
    expect(platformBrowserCommand(URL_WITH_QUERY, 'linux')).toEqual({ command: 'xdg-open', args: [URL_WITH_QUERY] });
    expect(platformBrowserCommand(URL_WITH_QUERY, 'win32')).toEqual({ command: 'cmd.exe', args: ['/d', '/s', '/c', `start "" "${URL_WITH_QUERY}"`], windowsVerbatimArguments: true });
    expect(platformBrowserCommand('https://x/"&calc', 'win32')).toBeUndefined();
  });

  it('tries $BROWSER first, like gh and Python webbrowser: a PATH-like list, %s for the URL, else appended', () => {
    expect(browserCommands(URL_WITH_QUERY, { platform: 'linux', env: { BROWSER: 'firefox --new-tab:"/opt/My Browser/run" --url=%s' } })).toEqual([
      { command: 'firefox', args: ['--new-tab', URL_WITH_QUERY] },
      { command: '/opt/My Browser/run', args: [`--url=${URL_WITH_QUERY}`] },
      { command: 'xdg-open', args: [URL_WITH_QUERY] },
    ]);
    expect(browserEnvCommands('chrome.exe;edge', 'u', 'win32').map((c) => c.command)).toEqual(['chrome.exe', 'edge']);
    expect(browserEnvCommands('  ', 'u', 'linux')).toEqual([]);
    // An entry that does not parse is skipped, not guessed.
    expect(browserEnvCommands('"unterminated:w3m', 'u', 'linux')).toEqual([{ command: 'w3m', args: ['u'] }]);
  });

  it('splits a command line with POSIX quoting and no expansion', () => {
    expect(splitCommandLine(`a 'b c' "d \\"e\\"" f\\ g $HOME`)).toEqual(['a', 'b c', 'd "e"', 'f g', '$HOME']);
    expect(() => splitCommandLine(`'open`)).toThrow(/unterminated/);
  });

  it('starts the $BROWSER program with the URL as one argument, and falls through a missing one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-browser-'));
    dirs.push(dir);
    const out = path.join(dir, 'argv.json');
    const script = path.join(dir, 'browser.js');
    writeFileSync(script, `#!${process.execPath}\nrequire('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.argv.slice(2)));\n`);
    chmodSync(script, 0o755);
    const used = await openBrowser(URL_WITH_QUERY, { platform: 'linux', env: { BROWSER: `/nonexistent/browser:${script}` } });
    expect(used?.command).toBe(script);
    for (let i = 0; i < 200 && !existsSync(out); i++) await new Promise((r) => setTimeout(r, 25));
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual([URL_WITH_QUERY]);
    expect(await openBrowser('https://x', { platform: 'aix' as NodeJS.Platform, env: { BROWSER: '/nonexistent/one' } })).toBeUndefined();
  });
});

describe('loopback listener', () => {
  it('hands over only the code of the awaited state; other requests get 400 or 404', async () => {
    const listener = await listenForCallback();
    try {
      expect(listener.redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
      const waiting = listener.wait('state-1');
      const stray = await fetch(`${listener.redirectUri}?code=stolen&state=other`);
      expect(stray.status).toBe(400);
      expect((await fetch(listener.redirectUri.replace('/callback', '/other'))).status).toBe(404);
      const browser = fetch(`${listener.redirectUri}?code=the-code&state=state-1`);
      const { result, reply } = await waiting;
      expect(result).toEqual({ code: 'the-code' });
      reply({ ok: true, title: 'Signed in to Heimdall', text: 'You are signed in as <alice>.' });
      const page = await browser;
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('Signed in to Heimdall');
      expect(html).toContain('&#60;alice&#62;');
    } finally {
      listener.close();
    }
  });

  it('hands over an error the gateway sent back', async () => {
    const listener = await listenForCallback();
    try {
      const waiting = listener.wait('s');
      const browser = fetch(`${listener.redirectUri}?error=access_denied&error_description=${encodeURIComponent('Device limit reached — contact IT')}&state=s`);
      const { result, reply } = await waiting;
      expect(result).toEqual({ error: 'access_denied', description: 'Device limit reached — contact IT' });
      reply({ ok: false, title: 'Sign-in failed', text: 'x' });
      expect((await browser).status).toBe(400);
    } finally {
      listener.close();
    }
  });
});
