// The Windows userfs helper's TypeScript, run here on Linux: the command line and environment block
// the addon's CreateProcessAsUserW gets, the helper's account check, the SID lookup from the profile
// list, and the pool's refusals. Then the whole path with a real helper process: spawnAsUser is
// played by a stand-in that parses the command line back with CommandLineToArgvW's rules, starts the
// real helper with three FIFOs as its standard handles and hands back their descriptors, as the
// addon hands back Node-runtime descriptors of its pipes (the C side is compiled by
// test/installer/windows-addon.test.ts; only a Windows runner can start a process with a token).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkWindowsAccount,
  environmentBlock,
  helperArgs,
  parseHelperArgs,
  quoteWindowsArg,
  UserFsPool,
  windowsCommandLine,
  type SpawnAsUser,
} from '../../agent/src/userfs/index.ts';
import { parseProfileList } from '../../agent/src/mcp/users.ts';

/** CommandLineToArgvW's rules (learn.microsoft.com, "Parsing C++ command-line arguments"), for the round trip. */
function commandLineToArgv(line: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (i >= line.length) break;
    let arg = '';
    let quoted = false;
    for (; i < line.length; i++) {
      const ch = line[i]!;
      if (!quoted && (ch === ' ' || ch === '\t')) break;
      if (ch === '\\') {
        let n = 0;
        while (line[i] === '\\') {
          n++;
          i++;
        }
        if (line[i] === '"') {
          arg += '\\'.repeat(n >> 1);
          if (n % 2 === 1) arg += '"';
          else quoted = !quoted;
        } else {
          arg += '\\'.repeat(n);
          i--;
        }
        continue;
      }
      if (ch === '"') {
        quoted = !quoted;
        continue;
      }
      arg += ch;
    }
    args.push(arg);
  }
  return args;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('the Windows helper command line and environment', () => {
  it('quotes each argument so CommandLineToArgvW gives back exactly what was meant', () => {
    // Microsoft's own examples, read the other way.
    expect(commandLineToArgv('"ab\\"c" "\\\\" d')).toEqual(['ab"c', '\\', 'd']);
    expect(commandLineToArgv('a\\\\\\b d"e f"g h')).toEqual(['a\\\\\\b', 'de fg', 'h']);
    const hostile = ['C:\\Program Files\\Heimdall\\heimdall.exe', '__userfs-helper', '--windows-user=CORP\\dana', 'a b', 'ends with \\', 'q"uote', '\\\\server\\share\\"x', '', 'tab\there', '"'];
    expect(commandLineToArgv(windowsCommandLine(hostile))).toEqual(hostile);
    expect(quoteWindowsArg('plain')).toBe('plain');
    expect(quoteWindowsArg('C:\\dir with space\\')).toBe('"C:\\dir with space\\\\"');
    expect(() => quoteWindowsArg('a\0b')).toThrow(/NUL/);
    expect(() => windowsCommandLine(['x'.repeat(40_000)])).toThrow(/at most 32,766/);
  });

  it('builds a sorted environment block and refuses names or values that would corrupt it', () => {
    expect(environmentBlock({ PATH: 'C:\\Windows\\System32', NODE_OPTIONS: '--max-old-space-size=256', SystemRoot: 'C:\\Windows', skip: undefined })).toBe(
      'NODE_OPTIONS=--max-old-space-size=256\0PATH=C:\\Windows\\System32\0SystemRoot=C:\\Windows\0',
    );
    expect(() => environmentBlock({ 'A=B': 'x' })).toThrow(/without "=" or NUL/);
    expect(() => environmentBlock({ A: 'x\0INJECTED=1' })).toThrow(/A: its value holds a NUL/);
  });

  it('starts the helper for a Windows account and lets it serve only as that account, never as SYSTEM', () => {
    expect(helperArgs({ uid: -1, gid: -1, groups: [], windowsUser: 'CORP\\dana' })).toEqual(['--windows-user=CORP\\dana']);
    expect(parseHelperArgs(['--windows-user=CORP\\dana'])).toEqual({ uid: -1, gid: -1, groups: [], windowsUser: 'CORP\\dana' });
    expect(() => parseHelperArgs(['--windows-user=..\\..\\x|y'])).toThrow(/--windows-user: expected DOMAIN\\name or name/);
    expect(() => checkWindowsAccount('CORP\\dana', 'dana')).not.toThrow();
    expect(() => checkWindowsAccount('CORP\\dana', 'DANA')).not.toThrow();
    expect(() => checkWindowsAccount('CORP\\dana', 'erin')).toThrow('started as "erin", not as "CORP\\dana"');
    expect(() => checkWindowsAccount('SYSTEM', 'SYSTEM')).toThrow(/machine account/);
    expect(() => checkWindowsAccount('CORP\\PC01$', 'PC01$')).toThrow(/machine account/);
  });

  it('finds each profile folder\'s SID in the profile list, service accounts left out', () => {
    const text = [
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\S-1-5-18',
      '    ProfileImagePath    REG_EXPAND_SZ    %systemroot%\\system32\\config\\systemprofile',
      '',
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\S-1-5-21-1-2-3-1001',
      '    ProfileImagePath    REG_EXPAND_SZ    %SystemDrive%\\Users\\dana.CORP',
      '',
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\S-1-5-21-1-2-3-1002',
      '    ProfileImagePath    REG_SZ    C:\\Users\\Erin\r',
      '',
      'End of search: 3 match(es) found.',
    ].join('\n');
    expect([...parseProfileList(text, 'C:')]).toEqual([
      ['c:\\users\\dana.corp', 'S-1-5-21-1-2-3-1001'],
      ['c:\\users\\erin', 'S-1-5-21-1-2-3-1002'],
    ]);
  });
});

describe('the Windows userfs pool', () => {
  const dana = { name: 'dana', uid: -1, gid: -1, sid: 'S-1-5-21-1-2-3-1001' };

  it('refuses file work for another user without the addon or without a SID, rather than doing it as SYSTEM', async () => {
    const noAddon = new UserFsPool({ platform: 'win32', selfName: 'SYSTEM', spawnAsUser: undefined });
    expect(noAddon.usesHelper(dana)).toBe(true);
    // This Linux build's addon has no spawnAsUser: the same refusal as a Windows build without one.
    await expect(noAddon.forUser(dana).read('C:\\Users\\dana', '.cursor/mcp.json', { limit: 100 })).rejects.toMatchObject({
      code: 'helper', message: 'no native addon to start a process as dana: file work under their profile is refused rather than done as SYSTEM',
    });
    const spawnAsUser: SpawnAsUser = () => {
      throw new Error('not reached');
    };
    const noSid = new UserFsPool({ platform: 'win32', selfName: 'SYSTEM', spawnAsUser });
    await expect(noSid.forUser({ name: 'erin', uid: -1, gid: -1 }).replace('C:\\Users\\erin', 'x.json', Buffer.from('{}'), { mode: 0o600 })).rejects.toMatchObject({ code: 'helper', message: expect.stringContaining('erin has no SID') });
    // The daemon's own account needs no helper.
    expect(noSid.usesHelper({ name: 'system', uid: -1, gid: -1 })).toBe(false);
  });

  it('says why when the user has no logon session (the addon cannot get a token)', async () => {
    const spawnAsUser: SpawnAsUser = () => {
      throw new Error('finding a Windows logon session of that user (WTSQueryUserToken) failed: Windows error 1312');
    };
    const pool = new UserFsPool({ platform: 'win32', selfName: 'SYSTEM', spawnAsUser });
    await expect(pool.forUser(dana).read('C:\\Users\\dana', 'a.json', { limit: 100 })).rejects.toMatchObject({
      code: 'helper',
      message: 'cannot start the userfs helper for dana (finding a Windows logon session of that user (WTSQueryUserToken) failed: Windows error 1312); the file work is refused, not done as the daemon',
    });
    await pool.close();
  });

  it('serves reads and writes through a real helper started from the command line and environment it built', async () => {
    const me = os.userInfo().username;
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-winhelper-'));
    dirs.push(work);
    fs.writeFileSync(path.join(work, 'mcp.json'), '{"mcpServers":{}}');
    const seen: { sid: string; argv: string[]; env: string }[] = [];
    // The addon's part, played on Linux: FIFOs for the three pipes, the helper started as the
    // command line says, the parent's descriptors handed back.
    const spawnAsUser: SpawnAsUser = (sid, application, commandLine, environment) => {
      const argv = commandLineToArgv(commandLine);
      seen.push({ sid, argv, env: environment });
      expect(argv[0]).toBe(application);
      const fifo = (name: string): string => {
        const p = path.join(work, `${name}-${seen.length}`);
        execFileSync('mkfifo', ['-m', '600', p]);
        return p;
      };
      const [inPath, outPath, errPath] = [fifo('in'), fifo('out'), fifo('err')];
      const stdout = fs.openSync(outPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      const stderr = fs.openSync(errPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      const child = spawn('sh', ['-c', `exec ${quoted} < '${inPath}' > '${outPath}' 2> '${errPath}'`], { stdio: 'ignore', env: { PATH: process.env['PATH'] ?? '' } });
      child.unref();
      const stdin = fs.openSync(inPath, fs.constants.O_RDWR);
      return { pid: child.pid!, stdin, stdout, stderr };
    };
    const pool = new UserFsPool({
      platform: 'win32',
      selfName: 'SYSTEM',
      spawnAsUser,
      // From source, as helperCommand would start it: Node and helper-main.ts.
      command: (id) => ({ command: process.execPath, args: [path.join(import.meta.dirname, '../../agent/src/userfs/helper-main.ts'), ...helperArgs(id)], env: { NODE_OPTIONS: '--max-old-space-size=256', PATH: '/usr/bin:/bin' } }),
    });
    const fsForMe = pool.forUser({ name: me, uid: -1, gid: -1, sid: 'S-1-5-21-9-9-9-1000' });
    const read = await fsForMe.read(work, 'mcp.json', { limit: 1000 });
    expect(read).toMatchObject({ kind: 'bytes' });
    expect((read as { bytes: Buffer }).bytes.toString()).toBe('{"mcpServers":{}}');
    await fsForMe.replace(work, 'mcp.json', Buffer.from('{"x":1}'), { mode: 0o600 });
    expect(fs.readFileSync(path.join(work, 'mcp.json'), 'utf8')).toBe('{"x":1}');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.sid).toBe('S-1-5-21-9-9-9-1000');
    expect(seen[0]!.argv.slice(-1)).toEqual([`--windows-user=${me}`]);
    expect(seen[0]!.env).toBe('NODE_OPTIONS=--max-old-space-size=256\0PATH=/usr/bin:/bin\0');
    await pool.close();

    // A helper started as someone else than asked exits before serving, and the request fails.
    const wrong = new UserFsPool({
      platform: 'win32', selfName: 'SYSTEM', spawnAsUser,
      command: () => ({ command: process.execPath, args: [path.join(import.meta.dirname, '../../agent/src/userfs/helper-main.ts'), '--windows-user=CORP\\somebody-else'], env: { PATH: '/usr/bin:/bin' } }),
    });
    await expect(wrong.forUser({ name: 'somebody-else', uid: -1, gid: -1, sid: 'S-1-5-21-1' }).read(work, 'mcp.json', { limit: 1000 })).rejects.toMatchObject({
      code: 'helper', message: expect.stringContaining(`started as "${me}", not as "CORP\\somebody-else"`),
    });
    await wrong.close();
  }, 30_000);
});
