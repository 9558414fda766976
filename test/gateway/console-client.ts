// A cookie-keeping HTTP client for the admin console, speaking plain http or https (with a test CA)
// from a chosen local address: what a browser sends, minus the browser, for the session, CSRF and
// exposure tests. Chromium itself drives the console in console-browser.test.ts.
import http from 'node:http';
import https from 'node:https';

export interface ConsoleReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function consoleRequest(
  base: string,
  pathname: string,
  options: { method?: string; cookie?: string; form?: Record<string, string | string[]>; headers?: Record<string, string>; ca?: string; host?: string } = {},
): Promise<ConsoleReply> {
  const url = new URL(pathname, base);
  const form = options.form ? new URLSearchParams(Object.entries(options.form).flatMap(([k, v]): [string, string][] => (Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : [[k, v]]))).toString() : undefined;
  const headers: Record<string, string> = {
    ...(options.cookie ? { cookie: options.cookie } : {}),
    ...(form !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(form)) } : {}),
    ...options.headers,
  };
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      {
        host: options.host ?? url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: options.method ?? (form !== undefined ? 'POST' : 'GET'),
        headers,
        ...(url.protocol === 'https:' ? { ca: options.ca, servername: 'localhost' } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(form);
  });
}

/** Signs in with the admin token; returns the `name=value` cookie and the Set-Cookie line as sent. */
export async function signIn(base: string, token: string, options: { ca?: string; host?: string } = {}): Promise<{ cookie: string; setCookie: string }> {
  const r = await consoleRequest(base, '/console/sign-in', { form: { token }, ...options });
  const setCookie = r.headers['set-cookie']?.[0];
  if (r.status !== 303 || !setCookie) throw new Error(`sign-in failed: ${r.status} ${r.body.slice(0, 200)}`);
  return { cookie: setCookie.split(';')[0]!, setCookie };
}

/** The CSRF token of the session, as a page's forms carry it. */
export async function csrfToken(base: string, cookie: string, options: { ca?: string; host?: string } = {}): Promise<string> {
  const r = await consoleRequest(base, '/console/settings', { cookie, ...options });
  const m = /name="csrf" value="([^"]+)"/.exec(r.body);
  if (!m) throw new Error(`no CSRF token in the settings page (${r.status})`);
  return m[1]!;
}
