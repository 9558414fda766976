// The upstream address of an exchange: joined by concatenation for plain paths (the inference path's
// common case), and it must be exactly what joining through the URL setters gave before.
import { describe, expect, it } from 'vitest';
import { joinUpstreamTarget } from '../../gateway/src/inference/upstream-request.ts';

/** The join as it was done for every request before: a URL copy with its path and query set. */
function joinedByUrl(base: URL, path: string, query: string): { host: string; path: string } {
  const target = new URL(base.href);
  target.pathname = base.pathname.replace(/\/+$/, '') + path;
  target.search = query ? `?${query}` : '';
  return { host: target.host, path: target.pathname + target.search };
}

const BASES = ['http://127.0.0.1:4000', 'http://127.0.0.1:4000/', 'https://api.openai.com/v1', 'https://gw.example.com/bifrost//', 'http://[::1]:8080/x', 'https://example.com:443/a%20b'];
const PATHS = [
  '/',
  '/chat/completions',
  '/v1beta/models/gemini-2.5-pro:streamGenerateContent',
  "/a/b;c=d/e@f/!$&'()*+,=~_-.",
  '/with space',
  '/quote"d',
  '/caf\u00e9',
  '/brace{x}',
  '/back`tick',
  '/pct%41%2F',
  '/dot/./x',
  '/dot/../x',
  '/enc/%2e%2E/x',
  '/trailing/',
  '/x/.',
  '/x..y/.z',
];
const QUERIES = ['', 'alt=sse', 'a=1&b=2', 'q=a b', "q='x'", 'q="x"', 'x=%zz', 'k=v?w', 'q=caf\u00e9', 'q=<x>', 'a[]=1|2'];

describe('joinUpstreamTarget', () => {
  it('gives the same host, path and query as the URL setters for every base, path and query', () => {
    for (const b of BASES) {
      const base = new URL(b);
      for (const path of PATHS) {
        for (const query of QUERIES) {
          const joined = joinUpstreamTarget(base, path, query);
          expect({ host: joined.host, path: joined.path }, `${b} + ${path} ? ${query}`).toEqual(joinedByUrl(base, path, query));
        }
      }
    }
  });

  it('reads the connection parts from the base URL, default ports and IPv6 brackets included', () => {
    expect(joinUpstreamTarget(new URL('http://[::1]:8080/x'), '/y', '')).toEqual({ https: false, hostname: '::1', port: 8080, host: '[::1]:8080', path: '/x/y' });
    expect(joinUpstreamTarget(new URL('https://api.openai.com/v1/'), '/models', 'a=1')).toEqual({ https: true, hostname: 'api.openai.com', port: 443, host: 'api.openai.com', path: '/v1/models?a=1' });
    expect(joinUpstreamTarget(new URL('http://upstream.internal'), '/', '')).toMatchObject({ port: 80, path: '/' });
  });
});
