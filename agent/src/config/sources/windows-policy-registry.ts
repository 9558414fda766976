// Windows policy registry: Intune / Group Policy write HKLM\SOFTWARE\Policies\Heimdall, which only
// administrators can change. Read through `reg query` (no native addon) and parsed from its text.
import { execFile } from 'node:child_process';
import type { ConfigSource, SourceRead } from './source.ts';

export const POLICY_REGISTRY_KEY = 'HKLM\\SOFTWARE\\Policies\\Heimdall';

export function buildRegQueryCommand(key: string = POLICY_REGISTRY_KEY): { file: string; args: string[] } {
  return { file: 'reg.exe', args: ['query', key] };
}

export type RegistryValue = string | number | bigint | string[] | Buffer;

const VALUE_LINE = /^ {4}(.+?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$/;

function decodeRegistryData(type: string, data: string): RegistryValue {
  switch (type) {
    case 'REG_DWORD':
      return Number.parseInt(data, 16);
    case 'REG_QWORD': {
      const v = BigInt(data);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case 'REG_MULTI_SZ':
      // reg.exe shows the separators of a multi-string as the two characters "\0".
      return data === '' ? [] : data.split('\\0').filter((s, i, all) => !(s === '' && i === all.length - 1));
    case 'REG_BINARY':
      return Buffer.from(data, 'hex');
    default:
      return data;
  }
}

/** Parses `reg query KEY` output (values of the key itself; subkeys are ignored). */
export function parseRegQueryOutput(output: string, key: string = POLICY_REGISTRY_KEY): Record<string, RegistryValue> {
  const values: Record<string, RegistryValue> = {};
  let inKey = false;
  const wanted = key.replace(/^HKLM\\/i, 'HKEY_LOCAL_MACHINE\\').toLowerCase();
  for (const rawLine of output.split(/\r?\n/)) {
    if (rawLine.startsWith('HKEY_')) {
      inKey = rawLine.trim().toLowerCase() === wanted;
      continue;
    }
    if (!inKey) continue;
    const match = VALUE_LINE.exec(rawLine);
    if (!match) continue;
    const [, name, type, data] = match;
    if (name === undefined || type === undefined || name === '(Default)') continue;
    values[name] = decodeRegistryData(type, (data ?? '').trimEnd());
  }
  return values;
}

const KEY_MISSING = /unable to find the specified registry key/i;

export function interpretRegQuery(result: { exitCode: number; stdout: string; stderr: string }, key: string = POLICY_REGISTRY_KEY): SourceRead {
  if (result.exitCode !== 0) {
    if (KEY_MISSING.test(result.stderr) || KEY_MISSING.test(result.stdout)) return { status: 'absent' };
    return { status: 'unreadable', reason: `reg query exited with ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}` };
  }
  return { status: 'ok', values: parseRegQueryOutput(result.stdout, key) };
}

export function windowsPolicyRegistrySource(key: string = POLICY_REGISTRY_KEY): ConfigSource {
  return {
    name: key,
    flavor: 'registry',
    watchPaths: [],
    // The registry cannot be watched without a native addon; policy refreshes are rare, so re-read.
    pollIntervalMs: 60_000,
    read() {
      const { file, args } = buildRegQueryCommand(key);
      return new Promise((resolve) => {
        execFile(file, args, { windowsHide: true, timeout: 10_000 }, (err, stdout, stderr) => {
          const exitCode = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          if (err && typeof err.code === 'string') {
            resolve({ status: 'unreadable', reason: `cannot run reg.exe (${err.code})` });
            return;
          }
          resolve(interpretRegQuery({ exitCode, stdout, stderr }, key));
        });
      });
    },
  };
}
