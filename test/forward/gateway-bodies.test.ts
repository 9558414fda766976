// Large bodies both ways through the proxy's gateway client, with curl as the app: uploads of known
// and unknown length arrive whole, a download read slowly by the app arrives whole (the gateway is
// paused and resumed, not buffered without bound), and HEAD answers without a body.
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHeimdallCa, createTestPki, startProxy, startTestUpstream, tempDir, type RunningProxy, type TestUpstream } from '../intercept/harness.ts';

const SIZE = 16 * 1024 * 1024;
let dir: string;
let gateway: TestUpstream;
let proxy: RunningProxy;
let payloadPath: string;
let payload: Buffer;

beforeAll(async () => {
  dir = tempDir('heimdall-bodies-');
  const pki = createTestPki(dir);
  gateway = await startTestUpstream(pki, 'gateway', ['gateway.test']);
  proxy = await startProxy(await createHeimdallCa(dir), { gatewayUrl: gateway.url, gatewayCa: pki.caPem });
  // Printable bytes, so the test gateway's text body is the same bytes.
  payload = Buffer.from(randomBytes((SIZE / 4) * 3).toString('base64'));
  payloadPath = path.join(dir, 'payload');
  fs.writeFileSync(payloadPath, payload);
});

afterAll(async () => {
  await Promise.all([proxy?.close(), gateway?.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function curlTo(outFile: string, args: string[]): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '60', '--proxy', proxy.proxyUrl, '--cacert', proxy.caPath, '-o', outFile, '-w', '%{http_code}', ...args],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 70_000 }, (_err, stdout, stderr) => resolve({ status: Number(stdout) || 0, stderr }));
  });
}

describe('request bodies', () => {
  it('streams a 16 MiB upload of known length to the gateway intact', async () => {
    gateway.handler = (req, res, body) => res.end(JSON.stringify({ length: Buffer.byteLength(body), sha256: sha256(body), te: req.headers['transfer-encoding'] ?? null }));
    const out = path.join(dir, 'up1.json');
    const r = await curlTo(out, ['https://api.openai.com/v1/files', '--data-binary', `@${payloadPath}`, '-H', 'content-type: application/octet-stream']);
    expect(r.status, r.stderr).toBe(200);
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual({ length: SIZE, sha256: sha256(payload), te: null });
    await vi.waitFor(() => expect(proxy.records.at(-1)).toMatchObject({ outcome: 'forwarded', bytesIn: SIZE }));
  });

  it('sends a small body that arrived with its head in the same write, and audits its size', async () => {
    gateway.handler = (req, res, body) => res.end(JSON.stringify({ body, length: req.headers['content-length'] }));
    const out = path.join(dir, 'small.json');
    const r = await curlTo(out, ['https://api.openai.com/v1/chat/completions', '-d', '{"model":"m","messages":[]}']);
    expect(r.status, r.stderr).toBe(200);
    const answer = fs.readFileSync(out, 'utf8');
    expect(JSON.parse(answer)).toEqual({ body: '{"model":"m","messages":[]}', length: '27' });
    await vi.waitFor(() => expect(proxy.records.at(-1)).toMatchObject({ outcome: 'forwarded', bytesIn: 27, bytesOut: Buffer.byteLength(answer) }));
  });

  it('re-frames an upload of unknown length as chunked, and it arrives intact', async () => {
    gateway.handler = (req, res, body) => res.end(JSON.stringify({ length: Buffer.byteLength(body), sha256: sha256(body), te: req.headers['transfer-encoding'] ?? null }));
    const out = path.join(dir, 'up2.json');
    const r = await curlTo(out, ['https://api.openai.com/v1/files', '--data-binary', `@${payloadPath}`, '-H', 'transfer-encoding: chunked']);
    expect(r.status, r.stderr).toBe(200);
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual({ length: SIZE, sha256: sha256(payload), te: 'chunked' });
  });
});

describe('response bodies', () => {
  /** Writes the payload in 64 KiB pieces, waiting for drain: the gateway only sends what is read. */
  const serve = (withLength: boolean): TestUpstream['handler'] => (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...(withLength ? { 'content-length': SIZE } : {}) });
    let at = 0;
    const more = (): void => {
      while (at < SIZE) {
        const piece = payload.subarray(at, at + 65536);
        at += piece.length;
        if (!res.write(piece)) {
          res.once('drain', more);
          return;
        }
      }
      res.end();
    };
    more();
  };

  for (const withLength of [true, false]) {
    it(`delivers a 16 MiB ${withLength ? 'Content-Length' : 'chunked'} download to an app that reads slowly, intact`, async () => {
      gateway.handler = serve(withLength);
      const out = path.join(dir, `down-${withLength}`);
      const r = await curlTo(out, ['https://api.openai.com/v1/files/file-1/content', '--limit-rate', '24M']);
      expect(r.status, r.stderr).toBe(200);
      const got = fs.readFileSync(out);
      expect(got.length).toBe(SIZE);
      expect(sha256(got)).toBe(sha256(payload));
    });
  }

  it('answers HEAD with the gateway\'s headers and no body, and the gateway connection serves the next request', async () => {
    gateway.requests.length = 0;
    gateway.handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1234 });
      res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234));
    };
    const head = path.join(dir, 'head.txt');
    const r = await curlTo(head, ['-I', 'https://api.openai.com/v1/models']);
    expect(r.status, r.stderr).toBe(200);
    expect(fs.readFileSync(head, 'utf8')).toMatch(/content-length: 1234/i);
    const body = path.join(dir, 'after-head.txt');
    expect((await curlTo(body, ['https://api.openai.com/v1/models'])).status).toBe(200);
    expect(fs.readFileSync(body, 'utf8')).toBe('x'.repeat(1234));
    expect(gateway.requests.map((q) => q.method)).toEqual(['HEAD', 'GET']);
  });
});
