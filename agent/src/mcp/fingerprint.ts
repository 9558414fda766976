// A server's identity, the way the apps' own policy matchers see it: a stdio server is its exact
// command and arguments in order, a remote server its URL with scheme and host lowercased. The name
// is only a label. The fingerprint is a plain SHA-256 of that identity so every machine in the fleet
// computes the same value for the same server (it must not depend on a device key).
import { createHash } from 'node:crypto';
import type { NormalizedServer } from './types.ts';

export type ServerIdentity = { kind: 'stdio'; command: string; args: string[] } | { kind: 'remote'; url: string };

/** WHATWG parsing lowercases scheme and host and drops a default port; path and query stay as written. */
export function canonicalUrl(raw: string): string {
  const text = raw.trim();
  try {
    return new URL(text).href;
  } catch {
    const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(text);
    return m ? `${m[1]!.toLowerCase()}${m[2]!.toLowerCase()}${m[3]!}` : text;
  }
}

export function serverIdentity(server: Pick<NormalizedServer, 'transport' | 'command' | 'args' | 'url'>): ServerIdentity {
  if (server.transport === 'stdio') return { kind: 'stdio', command: server.command ?? '', args: [...(server.args ?? [])] };
  return { kind: 'remote', url: canonicalUrl(server.url ?? '') };
}

export function fingerprintIdentity(identity: ServerIdentity): string {
  const material = identity.kind === 'stdio' ? JSON.stringify(['stdio', identity.command, ...identity.args]) : JSON.stringify(['remote', identity.url]);
  return `sha256:${createHash('sha256').update(material).digest('hex')}`;
}

export function fingerprintServer(server: Pick<NormalizedServer, 'transport' | 'command' | 'args' | 'url'>): string {
  return fingerprintIdentity(serverIdentity(server));
}
