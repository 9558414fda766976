// macOS and Windows identification through their parsers on fixtures written in each tool's output
// format (see test/fixtures/identify/README.md: not recorded on those OSes), and the resolvers driven
// by a command runner that answers with those fixtures in place of lsof, ps, codesign, netstat, PowerShell.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AppResolver, darwin, DarwinProcessResolver, windows, WindowsProcessResolver, type CommandResult, type CommandRunner } from '../../agent/src/identify/index.ts';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/identify');
const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');

function ok(stdout: string, stderr = ''): CommandResult {
  return { ok: true, exitCode: 0, stdout, stderr };
}
function failed(stderr: string, exitCode = 1): CommandResult {
  return { ok: false, exitCode, stdout: '', stderr };
}

/** Answers each command by the first rule whose test matches its file + args; records what ran. */
function fixtureRunner(rules: [RegExp, CommandResult][]): { run: CommandRunner; ran: string[] } {
  const ran: string[] = [];
  const run: CommandRunner = (file, args) => {
    const line = [file, ...args].join(' ');
    ran.push(line);
    const hit = rules.find(([re]) => re.test(line));
    return Promise.resolve(hit ? hit[1] : failed(`no fixture for ${line}`, 127));
  };
  return { run, ran };
}

describe('macOS command lines', () => {
  it('asks lsof for the client port, established only, in field output', () => {
    expect(darwin.buildLsofSocketCommand(52344)).toEqual({ file: '/usr/sbin/lsof', args: ['-nP', '-iTCP:52344', '-sTCP:ESTABLISHED', '-F', 'pcRuLfnT'] });
    expect(darwin.buildLsofExecutablesCommand([812, 790])).toEqual({ file: '/usr/sbin/lsof', args: ['-nP', '-a', '-p', '812,790', '-d', 'txt', '-F', 'pfn'] });
    expect(darwin.buildCodesignDisplayCommand('/Applications/My App.app/Contents/MacOS/My App')).toEqual({
      file: '/usr/bin/codesign',
      args: ['-dv', '--verbose=2', '/Applications/My App.app/Contents/MacOS/My App'],
    });
    expect(darwin.buildPsArgsCommand([1, 2]).args).toEqual(['-ww', '-o', 'pid=,args=', '-p', '1,2']);
  });
});

describe('macOS parsers', () => {
  it('parses lsof fields and picks the client end, not the proxy end', () => {
    const procs = darwin.parseLsofFields(fixture('darwin/lsof-socket-ipv4.txt'));
    expect(procs.map((p) => p.pid)).toEqual([812, 95]);
    expect(procs[0]).toMatchObject({ command: 'Claude Helper', ppid: 790, uid: 501, login: 'zoë' });
    expect(darwin.pickClientProcess(procs, { clientPort: 52344, proxyPort: 8080 })?.pid).toBe(812);
    expect(darwin.pickClientProcess(procs, { clientPort: 52344, proxyPort: 8080, clientAddress: '::ffff:127.0.0.1' })?.pid).toBe(812);
    expect(darwin.pickClientProcess(procs, { clientPort: 52344, proxyPort: 9999 })).toBeUndefined();
  });

  it('handles [::1] endpoints when the proxy is listed first', () => {
    const procs = darwin.parseLsofFields(fixture('darwin/lsof-socket-ipv6.txt'));
    expect(darwin.pickClientProcess(procs, { clientPort: 61001, proxyPort: 8080, clientAddress: '::1' })?.pid).toBe(4410);
    expect(darwin.parseLsofConnection('[::1]:61001->[::1]:8080')).toEqual({ localAddress: '::1', localPort: 61001, remoteAddress: '::1', remotePort: 8080 });
  });

  it('finds nothing in empty lsof output (process gone)', () => {
    expect(darwin.pickClientProcess(darwin.parseLsofFields(fixture('darwin/lsof-socket-gone.txt')), { clientPort: 1, proxyPort: 2 })).toBeUndefined();
  });

  it('reads executables with spaces and unicode, the first txt entry of each process', () => {
    const exes = darwin.parseLsofExecutables(fixture('darwin/lsof-txt-claude.txt'));
    expect(exes.get(812)).toBe('/Applications/Claude.app/Contents/Frameworks/Claude Helper.app/Contents/MacOS/Claude Helper');
    expect(exes.get(790)).toBe('/Applications/Claude.app/Contents/MacOS/Claude');
    expect(darwin.parseLsofExecutables(fixture('darwin/lsof-txt-node.txt')).get(4390)).toBe('/Users/zoë/Applications/Ghostty Nightly.app/Contents/MacOS/ghostty');
  });

  it('reads argv from ps, one process per line', () => {
    expect(darwin.parsePsArgs(fixture('darwin/ps-args-node.txt')).get(4410)).toEqual(['node', '/Users/zoë/code/ask-claude.mjs', '--model', 'sonnet']);
  });

  it('reads Team ID, identifier and authorities from codesign output', () => {
    const helper = darwin.codeSignatureFrom(fixture('darwin/codesign-claude-helper.txt'), true, true);
    expect(helper).toEqual({
      status: 'Valid',
      identifier: 'com.anthropic.claudefordesktop.helper',
      bundleId: 'com.anthropic.claudefordesktop.helper',
      teamId: 'Q6L2SF6YDW',
      authorities: ['Developer ID Application: Anthropic PBC (Q6L2SF6YDW)', 'Developer ID Certification Authority', 'Apple Root CA'],
    });
    expect(darwin.codeSignatureFrom(fixture('darwin/codesign-claude-helper.txt'), true, false).status).toBe('Invalid');
    const curl = darwin.codeSignatureFrom(fixture('darwin/codesign-curl-apple.txt'), true, true);
    expect(curl).toMatchObject({ status: 'Valid', identifier: 'com.apple.curl', authorities: ['Software Signing', 'Apple Code Signing Certification Authority', 'Apple Root CA'] });
    expect(curl.teamId).toBeUndefined();
    expect(curl.bundleId).toBeUndefined();
    expect(darwin.codeSignatureFrom(fixture('darwin/codesign-node-adhoc.txt'), true, true)).toMatchObject({ status: 'AdHoc', identifier: 'node' });
    expect(darwin.codeSignatureFrom(fixture('darwin/codesign-unsigned.txt'), false, false).status).toBe('NotSigned');
    expect(darwin.codeSignatureFrom(fixture('darwin/codesign-gone.txt'), false, false).status).toBe('Unknown');
  });
});

describe('macOS resolver on fixtures', () => {
  const rules: [RegExp, CommandResult][] = [
    [/lsof -nP -iTCP:52344 /, ok(fixture('darwin/lsof-socket-ipv4.txt'))],
    [/lsof -nP -iTCP:61001 /, ok(fixture('darwin/lsof-socket-ipv6.txt'))],
    [/lsof -nP -iTCP:/, failed('')],
    [/lsof .* -p 812 -d txt/, ok(fixture('darwin/lsof-txt-claude.txt'))],
    [/lsof .* -p 4410 -d txt/, ok(fixture('darwin/lsof-txt-node.txt'))],
    [/ps -ww -o pid=,args= -p 812$/, ok(fixture('darwin/ps-args-claude.txt'))],
    [/ps -ww -o pid=,args= -p 4410$/, ok(fixture('darwin/ps-args-node.txt'))],
    // codesign -dv writes what it found to stderr and exits 0.
    [/codesign -dv --verbose=2 .*Claude Helper$/, ok('', fixture('darwin/codesign-claude-helper.txt'))],
    [/codesign --verify --strict .*Claude Helper$/, ok('')],
    [/codesign -dv --verbose=2 .*\/node$/, ok('', fixture('darwin/codesign-node-adhoc.txt'))],
    [/codesign --verify/, ok('')],
  ];

  it('identifies a Claude Desktop helper by its signature, asking lsof and ps about that one process', async () => {
    const { run, ran } = fixtureRunner(rules);
    const resolver = new DarwinProcessResolver({ run, stamp: () => Promise.resolve('fixed') });
    const identity = await resolver.lookupByLocalPeer({ clientPort: 52344, proxyPort: 8080, clientAddress: '127.0.0.1' });
    expect(identity).toMatchObject({
      pid: 812,
      uid: 501,
      user: 'zoë',
      exe: '/Applications/Claude.app/Contents/Frameworks/Claude Helper.app/Contents/MacOS/Claude Helper',
      teamId: 'Q6L2SF6YDW',
      signingId: 'com.anthropic.claudefordesktop.helper',
      signatureStatus: 'Valid',
    });
    // Nothing reads the whole process table (`ps -A`) or the process's ancestors per connection.
    expect(ran.filter((l) => /^\/bin\/ps /.test(l))).toEqual(['/bin/ps -ww -o pid=,args= -p 812']);
    expect(ran.filter((l) => / -d txt /.test(l))).toEqual(['/usr/sbin/lsof -nP -a -p 812 -d txt -F pfn']);
    // The signature is the catalog's proof for Claude Desktop on macOS: the attribution is verified.
    expect(await new AppResolver({ platform: 'darwin' }).resolveApp(identity)).toMatchObject({ appId: 'claude-desktop', matchedBy: 'code-signature', verified: true, proof: 'code-signature' });
    // The signature is cached per file: a second lookup does not run codesign again.
    await resolver.lookupByLocalPeer({ clientPort: 52344, proxyPort: 8080 });
    expect(ran.filter((l) => l.includes('codesign -dv')).length).toBe(1);
  });

  it('names a node script over IPv6 by its script path', async () => {
    const { run } = fixtureRunner(rules);
    const identity = await new DarwinProcessResolver({ run, stamp: () => Promise.resolve('fixed') }).lookupByLocalPeer({ clientPort: 61001, proxyPort: 8080, clientAddress: '::1', family: 'IPv6' });
    expect(identity).toMatchObject({ pid: 4410, exe: '/opt/homebrew/Cellar/node/25.1.0/bin/node', signatureStatus: 'AdHoc', argv: ['node', '/Users/zoë/code/ask-claude.mjs', '--model', 'sonnet'] });
    const app = await new AppResolver({ platform: 'darwin' }).resolveApp(identity);
    expect(app).toMatchObject({ matchedBy: 'interpreter', subject: '~/code/ask-claude.mjs' });
  });

  it('answers undefined when lsof finds nothing (process gone)', async () => {
    const { run } = fixtureRunner(rules);
    expect(await new DarwinProcessResolver({ run }).lookupByLocalPeer({ clientPort: 1234, proxyPort: 8080 })).toBeUndefined();
  });
});

describe('Windows parsers', () => {
  it('parses netstat -ano and picks the client PID by four-tuple, in any language', () => {
    const rows = windows.parseNetstat(fixture('windows/netstat-ano.txt'));
    expect(rows.every((r) => Number.isInteger(r.pid))).toBe(true);
    expect(windows.pickClientPid(rows, { clientPort: 52344, proxyPort: 8080, clientAddress: '127.0.0.1' })).toBe(7788);
    expect(windows.pickClientPid(rows, { clientPort: 61001, proxyPort: 8080, clientAddress: '::1' })).toBe(9120);
    expect(windows.pickClientPid(rows, { clientPort: 52400, proxyPort: 8080 })).toBeUndefined(); // PID 0: gone
    expect(windows.pickClientPid(windows.parseNetstat(fixture('windows/netstat-ano-de.txt')), { clientPort: 52344, proxyPort: 8080 })).toBe(7788);
  });

  it('parses the CIM process query, as an array or as PowerShell 5.1 single object', () => {
    const processes = windows.parseProcesses(fixture('windows/process-chain-claude-code.json'));
    expect(processes?.map((p) => p.pid)).toEqual([7788, 6400, 5900]);
    expect(processes?.[0]).toMatchObject({ exe: 'C:\\Users\\Zoë Ørsted\\.local\\bin\\claude.exe', user: 'CORP\\zoe' });
    expect(windows.parseProcesses(fixture('windows/process-chain-python-single.json'))?.[0]?.pid).toBe(9120);
    expect(windows.parseProcesses(fixture('windows/process-chain-gone.json'))).toBeUndefined();
    expect(windows.parseProcesses('not json')).toBeUndefined();
  });

  it('asks CIM for the one process and its owner, not its ancestors', () => {
    const script = Buffer.from(windows.buildProcessCommand(7788).args.at(-1)!, 'base64').toString('utf16le');
    expect(script).toContain('-Filter "ProcessId=7788"');
    expect(script.match(/Get-CimInstance/g)).toHaveLength(1);
    expect(script).not.toMatch(/\bfor\s*\(/);
  });

  it('splits command lines as CommandLineToArgvW does', () => {
    const [python] = windows.parseProcesses(fixture('windows/process-chain-python-single.json'))!;
    expect(windows.splitWindowsCommandLine(python!.commandLine!)).toEqual(['python.exe', '-u', 'C:\\Users\\zoe\\My Scripts\\call gemini (v2).py', '--out', 'C:\\Temp Dir\\', '--tag', '"x"']);
    expect(windows.splitWindowsCommandLine('"C:\\Program Files\\x\\a.exe" a""b "c d" e\\\\f')).toEqual(['C:\\Program Files\\x\\a.exe', 'ab', 'c d', 'e\\\\f']);
    expect(windows.splitWindowsCommandLine('  ')).toEqual([]);
  });

  it('parses Authenticode results: quoted signer names, unsigned files, numeric status', () => {
    expect(windows.parseSignature(fixture('windows/signature-anthropic.json'))).toEqual({ status: 'Valid', signer: 'Anthropic, PBC', company: 'Anthropic, PBC' });
    expect(windows.parseSignature(fixture('windows/signature-notsigned.json'))).toEqual({ status: 'NotSigned' });
    expect(windows.parseSignature(fixture('windows/signature-numeric-status.json'))).toMatchObject({ status: 'HashMismatch', signer: 'Microsoft Corporation' });
    expect(windows.parseSignature('')).toEqual({ status: 'Unknown' });
  });

  it('quotes paths for PowerShell and passes scripts encoded, so no path can inject code', () => {
    expect(windows.psQuote("C:\\Users\\O'Brien\\x.exe")).toBe("'C:\\Users\\O''Brien\\x.exe'");
    const cmd = windows.buildSignatureCommand("C:\\a'; Remove-Item C:\\ -Recurse; '.exe");
    const script = Buffer.from(cmd.args.at(-1)!, 'base64').toString('utf16le');
    expect(cmd.args).toContain('-EncodedCommand');
    expect(script).toContain("-LiteralPath 'C:\\a''; Remove-Item C:\\ -Recurse; ''.exe'");
    expect(() => windows.buildProcessCommand(-1)).toThrow();
    expect(windows.buildNetstatCommand()).toEqual({ file: 'netstat.exe', args: ['-ano'] });
  });
});

describe('Windows resolver on fixtures', () => {
  function runnerWith(chain: string, signature: string): CommandRunner {
    return (file, args) => {
      if (file === 'netstat.exe') return Promise.resolve(ok(fixture('windows/netstat-ano.txt')));
      const script = Buffer.from(args.at(-1) ?? '', 'base64').toString('utf16le');
      return Promise.resolve(ok(script.includes('Win32_Process') ? chain : signature));
    };
  }

  it('identifies Claude Code by executable and Anthropic signature, with the domain user', async () => {
    const resolver = new WindowsProcessResolver({ run: runnerWith(fixture('windows/process-chain-claude-code.json'), fixture('windows/signature-anthropic.json')), stamp: () => Promise.resolve('fixed') });
    const identity = await resolver.lookupByLocalPeer({ clientPort: 52344, proxyPort: 8080, clientAddress: '127.0.0.1' });
    expect(identity).toMatchObject({ pid: 7788, uid: undefined, user: 'CORP\\zoe', signer: 'Anthropic, PBC', signatureStatus: 'Valid', argv: ['C:\\Users\\Zoë Ørsted\\.local\\bin\\claude.exe', '-p', 'say hi'] });
    expect(await new AppResolver({ platform: 'win32' }).resolveApp(identity)).toMatchObject({ appId: 'claude-code', matchedBy: 'code-signature', verified: true, proof: 'code-signature' });
  });

  it('names an unchecked claude.exe Claude Code but unverified: on Windows only the signature proves it', async () => {
    const resolver = new WindowsProcessResolver({ run: runnerWith(fixture('windows/process-chain-claude-code.json'), ''), stamp: () => Promise.resolve('fixed') });
    const identity = await resolver.lookupByLocalPeer({ clientPort: 52344, proxyPort: 8080, clientAddress: '127.0.0.1' });
    expect(identity?.signatureStatus).toBeUndefined();
    expect(await new AppResolver({ platform: 'win32' }).resolveApp(identity)).toMatchObject({
      appId: 'claude-code',
      matchedBy: 'executable',
      verified: false,
      unverifiedWhy: 'no valid Anthropic code signature',
    });
  });

  it('answers undefined when the process is gone before the CIM query', async () => {
    const resolver = new WindowsProcessResolver({ run: runnerWith('', '') });
    expect(await resolver.lookupByLocalPeer({ clientPort: 52344, proxyPort: 8080 })).toBeUndefined();
  });
});
