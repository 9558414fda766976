// The gateway's DNS answer is kept for its TTL (within bounds), then asked again; never forever.
import { describe, expect, it } from 'vitest';
import { DnsCache } from '../../agent/src/forward/index.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';

function fakeDns(ttl: number) {
  let v4 = '10.0.0.1';
  let calls = 0;
  let fail = false;
  return {
    set: (a: string) => { v4 = a; },
    failNext: (f: boolean) => { fail = f; },
    calls: () => calls,
    resolver: {
      resolve4: (_h: string) => { calls++; return fail ? Promise.reject(Object.assign(new Error('ETIMEOUT'), { code: 'ETIMEOUT' })) : Promise.resolve([{ address: v4, ttl }]); },
      resolve6: () => Promise.reject(Object.assign(new Error('ENODATA'), { code: 'ENODATA' })),
    },
  };
}

describe('DnsCache', () => {
  it('honours the TTL: cached while fresh, re-resolved after expiry', async () => {
    let now = 0;
    const dns = fakeDns(30);
    const cache = new DnsCache({ logger: silentLogger(), resolver: dns.resolver as never, now: () => now });
    expect(await cache.resolve('gw.heimdall-test.invalid')).toEqual([{ address: '10.0.0.1', family: 4 }]);
    dns.set('10.0.0.2');
    now = 29_000;
    expect((await cache.resolve('gw.heimdall-test.invalid'))[0]!.address).toBe('10.0.0.1');
    now = 31_000;
    expect((await cache.resolve('gw.heimdall-test.invalid'))[0]!.address).toBe('10.0.0.2');
    expect(dns.calls()).toBe(2);
  });

  it('clamps a huge TTL to the maximum so an answer is never cached forever', async () => {
    let now = 0;
    const dns = fakeDns(86_400 * 365);
    const cache = new DnsCache({ logger: silentLogger(), resolver: dns.resolver as never, now: () => now, maxTtlSeconds: 60 });
    await cache.resolve('gw.heimdall-test.invalid');
    dns.set('10.9.9.9');
    now = 61_000;
    expect((await cache.resolve('gw.heimdall-test.invalid'))[0]!.address).toBe('10.9.9.9');
  });

  it('uses the expired answer briefly while DNS fails, then gives up', async () => {
    let now = 0;
    const dns = fakeDns(10);
    const cache = new DnsCache({ logger: silentLogger(), resolver: dns.resolver as never, now: () => now, staleOnErrorSeconds: 30 });
    await cache.resolve('gw.heimdall-test.invalid');
    dns.failNext(true);
    now = 20_000;
    expect((await cache.resolve('gw.heimdall-test.invalid'))[0]!.address).toBe('10.0.0.1');
    now = 50_000;
    await expect(cache.resolve('gw.heimdall-test.invalid')).rejects.toThrow();
  });

  it('answers localhost from the OS resolver and works as an agent lookup', async () => {
    const cache = new DnsCache({ logger: silentLogger() });
    const all = await new Promise<unknown>((resolve, reject) => cache.lookup('localhost', { all: true }, (err, addrs) => (err ? reject(err) : resolve(addrs))));
    expect(JSON.stringify(all)).toMatch(/127\.0\.0\.1|::1/);
    const one = await new Promise<string>((resolve, reject) => cache.lookup('127.0.0.1', {}, (err, addr) => (err ? reject(err) : resolve(addr as string))));
    expect(one).toBe('127.0.0.1');
  });
});
