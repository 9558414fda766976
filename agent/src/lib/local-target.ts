// A local target an administrator lets the proxy reach (`local_targets_allowed`): `ADDRESS:PORT`,
// `[IPV6]:PORT`, or an address alone for every port. The config room validates entries with it when
// a managed file is read (so a bad entry is named in the log and the rest still apply), and the
// proxy's target guard compares canonical addresses with it: both must read an entry the same way.
import net from 'node:net';

export interface LocalTarget {
  /** Canonical address: dotted IPv4, compressed IPv6 without brackets. */
  address: string;
  /** Undefined: every port of the address. */
  port: number | undefined;
}

/** A host as the URL parser sees it: IPv4 in dotted form, IPv6 compressed without brackets, names lower case. */
export function canonicalHost(host: string): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  try {
    const parsed = new URL(`http://${net.isIPv6(bare) ? `[${bare}]` : bare}/`).hostname;
    return parsed.startsWith('[') ? parsed.slice(1, -1) : parsed.replace(/\.$/, '');
  } catch {
    return undefined;
  }
}

export const LOCAL_TARGET_FORMS = 'ADDRESS:PORT, [IPV6]:PORT or an address alone';

export function parseLocalTarget(entry: string): LocalTarget | undefined {
  const text = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const plain = /^([^:]+)(?::(\d{1,5}))?$/.exec(text);
  const [addressText, portText] = bracketed ? [bracketed[1]!, bracketed[2]] : plain ? [plain[1]!, plain[2]] : net.isIPv6(text) ? [text, undefined] : [undefined, undefined];
  if (addressText === undefined) return undefined;
  const address = canonicalHost(addressText);
  // Names are refused: a name can be re-pointed after the admin wrote it, an address cannot.
  if (address === undefined || !net.isIP(address)) return undefined;
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return { address, port };
}

/** The entry written back in one spelling (`127.0.0.1:5432`, `[::1]:22`, `169.254.169.254`). */
export function formatLocalTarget(target: LocalTarget): string {
  const host = net.isIPv6(target.address) ? `[${target.address}]` : target.address;
  return target.port === undefined ? host : `${host}:${target.port}`;
}
