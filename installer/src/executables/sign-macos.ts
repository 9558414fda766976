// The macOS signing and notarization commands (run on a Mac: codesign and notarytool exist only
// there). Hardened runtime is required for notarization; Node's V8 needs the JIT entitlements in
// installer/macos/entitlements.plist. The command lines are built here so the CI workflow, the
// README and the tests agree.
import { fileURLToPath } from 'node:url';

export const ENTITLEMENTS_FILE = fileURLToPath(new URL('../../macos/entitlements.plist', import.meta.url));

/** `codesign` for one executable with a Developer ID Application identity ("-" signs ad hoc). */
export function codesignArgs(file: string, identity: string, entitlements = ENTITLEMENTS_FILE): string[] {
  return ['--sign', identity, '--force', '--timestamp', '--options', 'runtime', '--entitlements', entitlements, '--identifier', 'io.heimdall.agent', file];
}

/** `xcrun notarytool submit` of a zip (or the .pkg) with a stored keychain profile; waits for the verdict. */
export function notarytoolSubmitArgs(archive: string, keychainProfile: string): string[] {
  return ['notarytool', 'submit', archive, '--keychain-profile', keychainProfile, '--wait'];
}
