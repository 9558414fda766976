// The CLI's loopback listener for a browser sign-in (RFC 8252 7.3): an HTTP server on 127.0.0.1 and
// an OS-chosen port where the gateway sends the browser back with `code` and `state`. It answers
// only `GET /callback` carrying the state this sign-in started with, and shows the person a page
// saying how it ended. The code alone is useless: the PKCE verifier is in the daemon.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type CallbackResult = { code: string } | { error: string; description: string | undefined };

export interface LoopbackCallback {
  /** `http://127.0.0.1:<port>/callback` */
  redirectUri: string;
  /**
   * The browser's return for `state`, with `reply` to answer its page once the sign-in ended.
   * Requests with another state (a page guessing ports) are answered 400 and ignored.
   */
  wait(state: string): Promise<{ result: CallbackResult; reply: (page: { ok: boolean; title: string; text: string }) => void }>;
  close(): void;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function resultPage(page: { ok: boolean; title: string; text: string }): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(page.title)}</title>
<style>body{font:16px system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em;color:${page.ok ? '#17603a' : '#9b1c1c'}}</style></head>
<body><h1>${escapeHtml(page.title)}</h1><p>${escapeHtml(page.text)}</p></body></html>`;
}

export async function listenForCallback(): Promise<LoopbackCallback> {
  let expected: string | undefined;
  let deliver: ((v: { result: CallbackResult; res: ServerResponse }) => void) | undefined;
  const early: { state: string; result: CallbackResult; res: ServerResponse }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== '/callback') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const state = url.searchParams.get('state') ?? '';
    const code = url.searchParams.get('code');
    const error = url.searchParams.get('error');
    const result: CallbackResult | undefined = code ? { code } : error ? { error: error.slice(0, 64), description: url.searchParams.get('error_description')?.slice(0, 300) } : undefined;
    if (!result || (expected !== undefined && state !== expected)) {
      res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' }).end(resultPage({ ok: false, title: 'Not this sign-in', text: 'This page does not belong to the sign-in Heimdall is waiting for. You can close it.' }));
      return;
    }
    if (deliver) deliver({ result, res });
    else early.push({ state, result, res });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    wait(state) {
      expected = state;
      return new Promise((resolve) => {
        const hand = ({ result, res }: { result: CallbackResult; res: ServerResponse }) => {
          deliver = undefined;
          resolve({
            result,
            reply: (page) => {
              const html = resultPage(page);
              res.writeHead(page.ok ? 200 : 400, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'cache-control': 'no-store' }).end(html);
            },
          });
        };
        const waiting = early.find((e) => e.state === state);
        if (waiting) hand(waiting);
        else deliver = hand;
      });
    },
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
