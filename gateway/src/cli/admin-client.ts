// A small client of the running gateway's admin API for the CLI: finds the URL and token from flags,
// the environment, or the data dir of a gateway on this machine.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_TOKEN_FILE, RUNTIME_FILE } from '../data-dir-files.ts';

export interface AdminTarget {
  url: string;
  token: string;
}

export class CliError extends Error {
  override name = 'CliError';
}

export interface TargetFlags {
  url?: string | undefined;
  /** Refused: see resolveTarget. */
  token?: string | undefined;
  tokenFile?: string | undefined;
  dataDir?: string | undefined;
}

export const TOKEN_ARGV_REFUSED =
  '--token is not accepted: a token on the command line is visible to every user in the process list. ' +
  'Set HEIMDALL_ADMIN_TOKEN, pass --token-file FILE, or pass --data-dir DIR on the gateway machine (it reads DIR/admin-token)';

export function resolveTarget(flags: TargetFlags, env: NodeJS.ProcessEnv = process.env): AdminTarget {
  // An empty variable counts as unset (`HEIMDALL_ADMIN_TOKEN= heimdall-gateway ...`).
  const fromEnv = (name: string) => env[name] || undefined;
  const dataDir = flags.dataDir ?? fromEnv('HEIMDALL_GATEWAY_DATA_DIR');
  let url = flags.url ?? fromEnv('HEIMDALL_GATEWAY_URL');
  if (flags.token !== undefined) throw new CliError(TOKEN_ARGV_REFUSED);
  let token: string | undefined;
  if (flags.tokenFile !== undefined) {
    try {
      token = readFileSync(flags.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new CliError(`--token-file ${flags.tokenFile}: ${(err as Error).message}`);
    }
    if (token === '') throw new CliError(`--token-file ${flags.tokenFile} is empty; it should hold the admin token`);
  }
  token ??= fromEnv('HEIMDALL_ADMIN_TOKEN');
  if (dataDir && url === undefined) {
    const runtime = path.join(dataDir, RUNTIME_FILE);
    if (existsSync(runtime)) url = (JSON.parse(readFileSync(runtime, 'utf8')) as { url?: string }).url;
  }
  if (dataDir && token === undefined) {
    const file = path.join(dataDir, ADMIN_TOKEN_FILE);
    if (existsSync(file)) token = readFileSync(file, 'utf8').trim();
  }
  if (!url) throw new CliError('where is the gateway? pass --url URL, set HEIMDALL_GATEWAY_URL, or pass --data-dir DIR of a gateway running on this machine');
  if (!token) throw new CliError('no admin token: set HEIMDALL_ADMIN_TOKEN, pass --token-file FILE, or pass --data-dir DIR (the token is in DIR/admin-token)');
  return { url: url.replace(/\/+$/, ''), token };
}

export async function adminRequest<T>(target: AdminTarget, method: string, pathAndQuery: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${target.url}/admin/v1/${pathAndQuery}`, {
      method,
      headers: { authorization: `Bearer ${target.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new CliError(`cannot reach the gateway at ${target.url} (${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}); is it running?`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new CliError(`the gateway answered ${res.status} with a body that is not JSON`);
  }
  if (!res.ok) {
    const error = (json as { error?: { message?: string; field?: string } }).error;
    throw new CliError(`${res.status}: ${error?.message ?? 'request failed'}`);
  }
  return json as T;
}
