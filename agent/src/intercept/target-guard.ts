// Where the proxy may connect on a client's behalf. The daemon runs as root and its proxy is open to
// every local user and every web page: a tunnel to this machine's own loopback, link-local or interface
// addresses would hand them whatever listens there (the local gateway, a database, SSH, a cloud
// metadata service at 169.254.169.254) with the daemon's network position, and a tunnel to the proxy
// itself would have its inner request attributed to root. Every target is canonicalised with the URL
// host parser (so `127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1` and `[::ffff:7f00:1]` are seen as
// the loopback they are), names are resolved once and every address they give is checked, and the
// connection goes to the address that was checked (a second lookup could be rebound).
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import os from 'node:os';
import { canonicalHost, LOCAL_TARGET_FORMS, parseLocalTarget } from '../lib/local-target.ts';

export { canonicalHost };

/** Why a target is refused. */
export type ForbiddenKind = 'loopback' | 'link-local' | 'unspecified' | "this machine's own address";

export type Vetted = { ok: true; address: string; family: 4 | 6 } | { ok: false; reason: string };

export interface TargetGuardOptions {
  /**
   * Local targets an administrator allows anyway (`local_targets_allowed`): `ADDRESS:PORT`,
   * `[IPV6]:PORT`, or an address alone for every port.
   */
  allowed?: readonly string[];
  /** The machine's own interface addresses (tests inject them). */
  ownAddresses?: () => readonly string[];
  /** Name resolution (tests inject it); every address a name has is checked. */
  resolve?: (host: string) => Promise<readonly { address: string; family: number }[]>;
}

const RANGES: readonly [ForbiddenKind, string, number, 'ipv4' | 'ipv6'][] = [
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['link-local', '169.254.0.0', 16, 'ipv4'],
  ['loopback', '::1', 128, 'ipv6'],
  ['unspecified', '::', 128, 'ipv6'],
  ['link-local', 'fe80::', 10, 'ipv6'],
];

/** The kind of local address this is, or undefined for an address elsewhere. */
export function forbiddenKind(address: string, own: readonly string[]): ForbiddenKind | undefined {
  const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : undefined;
  if (!family) return undefined;
  // An IPv4-mapped IPv6 address reaches the IPv4 address it maps.
  const mapped = family === 'ipv6' ? mappedIpv4(address) : undefined;
  const [addr, fam] = mapped ? [mapped, 'ipv4' as const] : [address, family];
  for (const [kind, net0, prefix, f] of RANGES) {
    if (f !== fam) continue;
    const list = new net.BlockList();
    list.addSubnet(net0, prefix, f);
    if (list.check(addr, f)) return kind;
  }
  if (own.some((o) => canonicalHost(o) === addr)) return "this machine's own address";
  return undefined;
}

function mappedIpv4(address: string): string | undefined {
  const m = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (!m) return undefined;
  if (m[1]) return m[1];
  const hi = parseInt(m[2]!, 16);
  const lo = parseInt(m[3]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

function interfaceAddresses(): string[] {
  return Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address.replace(/%.*$/, '')));
}

export class TargetGuard {
  readonly #allowedAddressPorts = new Set<string>();
  readonly #allowedAddresses = new Set<string>();
  readonly #own: () => readonly string[];
  readonly #resolve: (host: string) => Promise<readonly { address: string; family: number }[]>;

  constructor(options: TargetGuardOptions = {}) {
    for (const entry of options.allowed ?? []) {
      const parsed = parseLocalTarget(entry);
      if (!parsed) throw new Error(`local_targets_allowed entry ${JSON.stringify(entry)}: expected ${LOCAL_TARGET_FORMS}`);
      if (parsed.port === undefined) this.#allowedAddresses.add(parsed.address);
      else this.#allowedAddressPorts.add(`${parsed.address}|${parsed.port}`);
    }
    this.#own = options.ownAddresses ?? interfaceAddresses;
    this.#resolve = options.resolve ?? ((host) => lookup(host, { all: true, verbatim: true }));
  }

  /** Checks a target and returns the one address to connect to, or why it is refused. */
  async vet(host: string, port: number): Promise<Vetted> {
    const canonical = canonicalHost(host);
    if (canonical === undefined) return { ok: false, reason: `${host} is not a host name or address` };
    let addresses: readonly { address: string; family: number }[];
    if (net.isIP(canonical)) {
      addresses = [{ address: canonical, family: net.isIP(canonical) }];
    } else {
      try {
        addresses = await this.#resolve(canonical);
      } catch (err) {
        return { ok: false, reason: `${host} could not be resolved (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
      }
      if (addresses.length === 0) return { ok: false, reason: `${host} has no address` };
    }
    const own = this.#own();
    for (const { address } of addresses) {
      const a = canonicalHost(address) ?? address;
      const kind = forbiddenKind(a, own);
      if (kind && !this.#allows(a, port)) {
        const via = a === canonical ? '' : ` (${host} resolves to ${a})`;
        return { ok: false, reason: `${a}:${port}${via} is a ${kind} address; the proxy does not connect there unless local_targets_allowed names it` };
      }
    }
    const first = addresses[0]!;
    return { ok: true, address: canonicalHost(first.address) ?? first.address, family: first.family === 6 ? 6 : 4 };
  }

  #allows(address: string, port: number): boolean {
    return this.#allowedAddresses.has(address) || this.#allowedAddressPorts.has(`${address}|${port}`);
  }
}
