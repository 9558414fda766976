// The CLI's side of the Windows TCP endpoint: a loopback port is not a file only root can create, so
// before the CLI sends anything (a virtual key at sign-in) it asks the kernel who holds the other end
// of its connection, and goes on only when that is the Heimdall service's process. A user who took
// the port while the service was down (port squatting) gets no request. Unix sockets need none of
// this: their directory is root's.
import type { Socket } from 'node:net';
import { setTimeout as wait } from 'node:timers/promises';
import type { PeerCredAddon } from './addon.ts';

/** Why the server at the other end is not the daemon, or undefined when it is. */
export type ServerCheck = (socket: Pick<Socket, 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort' | 'remoteFamily'>) => string | undefined | Promise<string | undefined>;

/**
 * How long to keep asking when the kernel lists the server's end with no owner yet. A connection
 * waits in the listener's queue until the server accept()s it, and a busy service (or a loaded
 * machine) may take a while; refusing then would turn the real service away. Only an unknown
 * owner is asked again: a known wrong one is refused at once.
 */
const OWNER_LOOKUPS = [0, 10, 25, 50, 100, 200, 400, 800];

/** The Windows service the .msi installs (installer/src/packages/msi.ts). */
export const WINDOWS_SERVICE_NAME = 'Heimdall';

/**
 * The check for the machine daemon's endpoint: the owner of the server's end of this connection in
 * the kernel's TCP table must be the running service's process. Without the addon nothing can be
 * checked, and the CLI refuses rather than talk to whoever holds the port.
 */
export function serviceOwnerCheck(addon: PeerCredAddon | undefined, serviceName = WINDOWS_SERVICE_NAME): ServerCheck {
  return async (socket) => {
    const { tcpOwnerPid, servicePid } = addon ?? {};
    if (!tcpOwnerPid || !servicePid) return 'this installation has no native addon to check that the Heimdall service answers on the local API port';
    const { remoteAddress, remotePort, localAddress, localPort, remoteFamily } = socket;
    if (remoteAddress === undefined || remotePort === undefined || localAddress === undefined || localPort === undefined) return 'the connection closed before it could be checked';
    let owner: number | null = null;
    let service: number | null;
    try {
      for (const delayMs of OWNER_LOOKUPS) {
        if (delayMs > 0) await wait(delayMs);
        // The server's end: local is the address the CLI connected to, remote the CLI's own end.
        owner = tcpOwnerPid(remoteFamily === 'IPv6' ? 6 : 4, remoteAddress, remotePort, localAddress, localPort);
        if (owner !== null) break;
      }
      service = servicePid(serviceName);
    } catch (err) {
      return `the kernel did not say who holds ${remoteAddress}:${remotePort} (${(err as Error).message})`;
    }
    if (service === null) return `the ${serviceName} service is not running, and process ${owner ?? '(unknown)'} answers on ${remoteAddress}:${remotePort} instead`;
    if (owner !== service) return `${remoteAddress}:${remotePort} is held by process ${owner ?? '(unknown)'}, not by the ${serviceName} service (process ${service})`;
    return undefined;
  };
}
