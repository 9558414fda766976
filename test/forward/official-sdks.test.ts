// The official `openai` and `@anthropic-ai/sdk` clients, in a child process configured only by
// buildProxyEnvironment (no baseURL change), complete a normal and a streaming call through the
// proxy to the test gateway.
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHeimdallCa, createTestPki, startProxy, startTestUpstream, tempDir, type RunningProxy, type TestUpstream } from '../intercept/harness.ts';
import { buildProxyEnvironment, writeCaBundle } from '../../agent/src/intercept/index.ts';

let dir: string;
let gateway: TestUpstream;
let proxy: RunningProxy;
let env: Record<string, string>;

const SSE = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

beforeAll(async () => {
  dir = tempDir('heimdall-sdk-');
  const pki = createTestPki(dir);
  const heimdallCa = await createHeimdallCa(dir);
  gateway = await startTestUpstream(pki, 'gateway', ['gateway.test']);
  gateway.handler = (req, res, body) => {
    const stream = body.includes('"stream":true');
    if (req.url === '/openai/v1/chat/completions') {
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-test',
          choices: [{ index: 0, message: { role: 'assistant', content: 'hello from the gateway' }, finish_reason: 'stop' }] }));
        return;
      }
      res.writeHead(200, SSE);
      for (const piece of ['hel', 'lo ', 'stream']) {
        res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-test', choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] })}\n\n`);
      }
      res.end('data: [DONE]\n\n');
      return;
    }
    if (req.url === '/anthropic/v1/messages') {
      const message = { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-test', stop_reason: 'end_turn', stop_sequence: null,
        usage: { input_tokens: 1, output_tokens: 2 } };
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ...message, content: [{ type: 'text', text: 'hello from the gateway' }] }));
        return;
      }
      res.writeHead(200, SSE);
      const ev = (type: string, data: object): void => { res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`); };
      ev('message_start', { message: { ...message, content: [], stop_reason: null } });
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
      for (const piece of ['hel', 'lo ', 'stream']) ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: piece } });
      ev('content_block_stop', { index: 0 });
      ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 3 } });
      ev('message_stop', {});
      res.end();
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"no such route"}}');
  };
  proxy = await startProxy(heimdallCa, { gatewayUrl: gateway.url, gatewayCa: pki.caPem });
  const bundle = await writeCaBundle(dir, proxy.caPem);
  env = Object.fromEntries(buildProxyEnvironment({ proxyUrl: proxy.proxyUrl, caCertPath: proxy.caPath, caBundlePath: bundle.path }));
});

afterAll(async () => {
  await Promise.all([proxy?.close(), gateway?.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

function runClient(script: string): Promise<{ stdout: string; stderr: string; code: number }> {
  const file = path.join(dir, `client-${Math.random().toString(36).slice(2)}.mjs`);
  fs.writeFileSync(file, script);
  return new Promise((resolve) => {
    execFile(process.execPath, [file], {
      // Only what Heimdall's environment sets, plus the app's own key and module resolution.
      env: { ...env, PATH: process.env.PATH ?? '', OPENAI_API_KEY: 'sk-app-openai', ANTHROPIC_API_KEY: 'sk-ant-app', NODE_PATH: path.resolve('node_modules') },
      cwd: path.resolve('.'),
      timeout: 30_000,
    }, (err, stdout, stderr) => resolve({ stdout, stderr, code: err ? 1 : 0 }));
  });
}

const requireFrom = `import { createRequire } from 'node:module'; const require = createRequire(${JSON.stringify(path.resolve('package.json'))});`;

describe('official SDKs through the proxy, configured only by environment', () => {
  it('openai: a normal and a streaming chat completion', async () => {
    const r = await runClient(`${requireFrom}
      const { default: OpenAI } = await import(require.resolve('openai'));
      const client = new OpenAI({ maxRetries: 0 });
      const done = await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
      console.log('normal=' + done.choices[0].message.content);
      const stream = await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }], stream: true });
      let text = ''; for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      console.log('stream=' + text);`);
    expect(r.code, r.stderr).toBe(0);
    // NODE_OPTIONS from the environment silences Node's EnvHttpProxyAgent warning: nothing lands in the app's terminal.
    expect(r.stderr).not.toContain('EnvHttpProxyAgent');
    expect(r.stdout).toContain('normal=hello from the gateway');
    expect(r.stdout).toContain('stream=hello stream');
    const seen = gateway.requests.filter((q) => q.url === '/openai/v1/chat/completions');
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const q of seen) {
      expect(q.headers.authorization).toBe('Bearer sk-bf-test-virtual-key');
      expect(JSON.stringify(q.headers)).not.toContain('sk-app-openai');
    }
  });

  it('@anthropic-ai/sdk: a normal and a streaming message', async () => {
    const r = await runClient(`${requireFrom}
      const { default: Anthropic } = await import(require.resolve('@anthropic-ai/sdk'));
      const client = new Anthropic({ maxRetries: 0 });
      const done = await client.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
      console.log('normal=' + done.content[0].text);
      const stream = client.messages.stream({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
      let text = ''; stream.on('text', (t) => { text += t; });
      await stream.finalMessage();
      console.log('stream=' + text);`);
    expect(r.code, r.stderr).toBe(0);
    // NODE_OPTIONS from the environment silences Node's EnvHttpProxyAgent warning: nothing lands in the app's terminal.
    expect(r.stderr).not.toContain('EnvHttpProxyAgent');
    expect(r.stdout).toContain('normal=hello from the gateway');
    expect(r.stdout).toContain('stream=hello stream');
    const seen = gateway.requests.filter((q) => q.url === '/anthropic/v1/messages');
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const q of seen) expect(q.headers['x-api-key']).toBeUndefined();
  });
});
