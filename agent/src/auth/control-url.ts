// Where the control plane's endpoints live, derived from `control_url`. The device token and the
// virtual key travel to these URLs, so plain http is accepted only to a loopback host (development
// and the demo) unless the caller explicitly allows it.
import { isLoopbackUrlHost } from '../lib/loopback-host.ts';
import { LoginError } from './errors.ts';

export interface ControlEndpointOptions {
  /** `ws:`/`wss:` instead of `http:`/`https:` (the sync channel). */
  websocket?: boolean;
  /** Accept plain http/ws to a non-loopback host (a development gateway on a LAN). */
  allowInsecure?: boolean;
}

/**
 * The URL of `endpoint` (e.g. `/edge/v1/enroll`) under `controlUrl`, keeping any path prefix the
 * gateway is mounted under (`https://corp.example/ai/` -> `https://corp.example/ai/edge/v1/enroll`).
 * Throws LoginError('invalid_control_url') with a message a person can act on.
 */
export function controlEndpoint(controlUrl: string, endpoint: string, options: ControlEndpointOptions = {}): URL {
  let url: URL;
  try {
    url = new URL(controlUrl);
  } catch {
    throw new LoginError('invalid_control_url', `control_url is not a URL: expected https://host[:port][/prefix]`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new LoginError('invalid_control_url', `control_url must start with https:// (got ${url.protocol}//)`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new LoginError('invalid_control_url', 'control_url must not carry a user name or password');
  }
  if (url.protocol === 'http:' && !options.allowInsecure && !isLoopbackUrlHost(url.hostname)) {
    throw new LoginError(
      'invalid_control_url',
      `control_url ${url.origin} is plain http to a host other than loopback; credentials would cross the network unencrypted: use https://`,
    );
  }
  const prefix = url.pathname.replace(/\/+$/, '');
  const out = new URL(url.origin);
  out.pathname = `${prefix}/${endpoint.replace(/^\/+/, '')}`;
  if (options.websocket) out.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return out;
}

/** The URL without query or fragment, for messages and logs. */
export function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
