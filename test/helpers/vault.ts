// The vault a development daemon (`heimdall run --state-dir DIR`) opens: its key file in DIR. Tests
// that leave a sign-in in the store before starting a daemon seal it with this, as `heimdall login` would.
import { randomBytes } from 'node:crypto';
import { FileVaultKey, TokenVault } from '../../agent/src/auth/index.ts';

export async function stateDirVault(stateDir: string): Promise<TokenVault> {
  return new TokenVault(await new FileVaultKey(stateDir).loadOrCreate());
}

/** A vault for a store no daemon will open. */
export function throwawayVault(): TokenVault {
  return new TokenVault(randomBytes(32));
}
