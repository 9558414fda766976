// Stable PayloadUUIDs: a name-based (RFC 9562 version 5) UUID of org + payload identifier, so
// generating again for the same organization replaces a profile on the Mac instead of adding a copy.
import { createHash } from 'node:crypto';

// Heimdall's own namespace for profile UUIDs (random once; never change it, or every fleet's
// profiles would be installed a second time next to the old ones).
const HEIMDALL_PROFILE_NAMESPACE = '9f3c2a5e-7b1d-4c8e-a6f0-2d4b8e1c7a93';

export function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The PayloadUUID of one payload (or profile) identifier for one organization. */
export function payloadUuid(organization: string, identifier: string): string {
  return uuidV5(HEIMDALL_PROFILE_NAMESPACE, `${organization}\n${identifier}`);
}
