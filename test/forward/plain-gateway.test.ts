// The forwarder attaches the signed-in user's virtual key to every governed request, so it refuses a
// gateway reached in plain text across the network, whoever builds it (the config validator refuses
// such a gateway_url first; this is the second lock).
import { describe, expect, it } from 'vitest';
import { Forwarder } from '../../agent/src/forward/index.ts';
import { createLogger } from '../../agent/src/lib/logger.ts';

const logger = createLogger({ level: 'silent' });

describe('Forwarder gateway URL', () => {
  it('refuses http:// to a host other than loopback, under any spelling of a remote address', () => {
    for (const url of ['http://ai-gw.acme.example', 'http://10.0.0.5:8080', 'http://[fe80::1]:8080', 'http://0x0a000005']) {
      expect(() => new Forwarder({ gatewayUrl: url, deviceId: 'd', logger }), url).toThrow(/plain http to a host other than loopback; virtual keys would cross the network unencrypted: use https:\/\//);
    }
  });

  it('accepts https anywhere and plain http to loopback', () => {
    for (const url of ['https://ai-gw.acme.example', 'http://127.0.0.1:9', 'http://localhost:9', 'http://[::1]:9']) {
      new Forwarder({ gatewayUrl: url, deviceId: 'd', logger }).close();
    }
  });
});
