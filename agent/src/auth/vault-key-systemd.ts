// The vault key sealed with systemd-creds (Linux, systemd 250+): the key file in the state directory
// holds only the sealed credential; `systemd-creds decrypt` opens it with the TPM2 when the machine
// has one and the host key (/var/lib/systemd/credential.secret, root-only) otherwise, so the state
// directory copied elsewhere opens nowhere. The key travels on stdin and stdout, never on argv.
// The pure part (argv) is tested anywhere; the spawning part is a thin shell.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isSymlink, writeFileAtomic } from '../lib/private-fs.ts';
import { newVaultKey, once, parseVaultKey, type VaultKeySource } from './vault-key.ts';

export const SYSTEMD_CREDS = '/usr/bin/systemd-creds';
export const VAULT_CREDENTIAL_NAME = 'heimdall-vault-key';
export const VAULT_CREDENTIAL_FILE = 'vault-key.cred';

/** argv that seals stdin into `credFile` (`--with-key=auto`: TPM2 and host key when a TPM2 is there, else the host key). */
export function systemdCredsEncryptArgs(credFile: string): string[] {
  return ['encrypt', `--name=${VAULT_CREDENTIAL_NAME}`, '--with-key=auto', '-', credFile];
}

/** argv that prints the sealed key of `credFile` on stdout. */
export function systemdCredsDecryptArgs(credFile: string): string[] {
  return ['decrypt', `--name=${VAULT_CREDENTIAL_NAME}`, credFile, '-'];
}

/** Whether this machine has a systemd-creds that can seal (systemd 250 or newer). */
export function hasSystemdCreds(binary = SYSTEMD_CREDS): boolean {
  if (!existsSync(binary)) return false;
  try {
    execFileSync(binary, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

function run(binary: string, args: string[], input: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString().slice(0, 500)));
    child.on('error', reject);
    child.on('close', (code) => {
      // systemd-creds warns on stderr when the host key is not on encrypted media; only the exit code decides.
      if (code === 0) resolve(out);
      else reject(new Error(`systemd-creds ${args[0]} failed (exit ${code}): ${err.split('\n').filter(Boolean).pop() ?? ''}`));
    });
    child.stdin.end(input ?? '');
  });
}

export class SystemdCredsVaultKey implements VaultKeySource {
  readonly kind = 'systemd-creds' as const;
  readonly #file: string;
  readonly #binary: string;
  readonly loadOrCreate: () => Promise<Buffer>;

  constructor(stateDir: string, binary = SYSTEMD_CREDS) {
    this.#file = path.join(stateDir, VAULT_CREDENTIAL_FILE);
    this.#binary = binary;
    this.loadOrCreate = once(() => this.#load());
  }

  async #load(): Promise<Buffer> {
    if (await isSymlink(this.#file)) throw new Error(`${this.#file} is a symbolic link; the sealed vault key must be a plain file in the state directory`);
    if (existsSync(this.#file)) return parseVaultKey(await run(this.#binary, systemdCredsDecryptArgs(this.#file), undefined), this.#file);
    const key = newVaultKey();
    const sealed = `${this.#file}.new`;
    await run(this.#binary, systemdCredsEncryptArgs(sealed), key.toString('base64'));
    // Written by systemd-creds; re-written 0600 through the atomic path so the mode is ours.
    await writeFileAtomic(this.#file, readFileSync(sealed), { mode: 0o600 });
    await import('node:fs/promises').then((fs) => fs.rm(sealed, { force: true }));
    return key;
  }
}
