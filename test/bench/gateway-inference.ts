// Reference gateway inference (issue 22, target 8): CPU per governed request and requests per second
// at 32 concurrent clients, the gateway as its own process (`heimdall-gateway run`) in front of the
// DEMO upstream in another process. Each request carries what an agent sends: a virtual key and a
// challenge-signed device token. The baseline in the same run is the same client sending the same
// request straight to the DEMO upstream. Run alone with `node test/bench/gateway-inference.ts`
// (`--cpu-prof DIR` writes the gateway's CPU profile there).
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { DEVICE_TOKEN_HEADER } from '../../protocol/index.ts';
import { admin, enrollDevices, rssBytes, startGatewayProcess } from './gateway.ts';
import { cpuMicrosOfPid } from './proxy.ts';

const PROVIDER_KEY = 'bench-provider-key';
const BODY = JSON.stringify({ model: 'demo-gpt', messages: [{ role: 'user', content: 'Say hello in one short sentence.' }] });

export interface InferenceLevel {
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU of the measured process per request (µs): the gateway's, or the DEMO upstream's for direct. */
  cpuPerRequestUs: number;
  errors: number;
}

export interface GatewayInferenceResult {
  concurrency: number;
  direct: InferenceLevel;
  gateway: InferenceLevel;
  /** The DEMO upstream's CPU per request while the gateway was in front of it. */
  upstreamCpuPerRequestUs: number;
  gatewayRssMiB: number;
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

function post(agent: http.Agent, url: URL, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(BODY)), ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(BODY);
  });
}

/** `concurrency` clients on kept-alive connections for `seconds` (after a warm-up); CPU of `pid`. */
async function load(url: URL, headers: Record<string, string>, pid: number, concurrency: number, seconds: number, upstreamPid?: number): Promise<InferenceLevel & { upstreamCpuUs: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const warmUntil = performance.now() + 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => { while (performance.now() < warmUntil) await post(agent, url, headers); }));
  const latencies: number[] = [];
  let errors = 0;
  const cpuBefore = cpuMicrosOfPid(pid);
  const upstreamBefore = upstreamPid ? cpuMicrosOfPid(upstreamPid) : 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const s = performance.now();
        const status = await post(agent, url, headers);
        latencies.push(performance.now() - s);
        if (status !== 200) errors++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuMicrosOfPid(pid) - cpuBefore;
  const upstreamCpuUs = upstreamPid ? cpuMicrosOfPid(upstreamPid) - upstreamBefore : 0;
  agent.destroy();
  return { requests: latencies.length, reqPerSec: latencies.length / elapsed, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), cpuPerRequestUs: cpu / latencies.length, errors, upstreamCpuUs };
}

export async function benchGatewayInference(options: { concurrency?: number; seconds?: number; cpuProfileDir?: string } = {}): Promise<GatewayInferenceResult> {
  const concurrency = options.concurrency ?? 32;
  const seconds = options.seconds ?? 5;
  const upstream = spawn(process.execPath, [new URL('./demo-upstream-child.ts', import.meta.url).pathname, PROVIDER_KEY], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const demoUrl = await new Promise<string>((resolve, reject) => {
      createInterface({ input: upstream.stdout }).once('line', resolve);
      upstream.once('exit', (code) => reject(new Error(`the DEMO upstream exited (${code})`)));
    });
    const gw = await startGatewayProcess({
      config: { inference: { providers: { openai: { base_url: demoUrl, api_key: 'env.BENCH_OPENAI_KEY' } } } },
      env: { BENCH_OPENAI_KEY: PROVIDER_KEY },
      nodeFlags: options.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir] : [],
    });
    try {
      const { key } = (await admin(gw, 'POST', 'keys', { user_email: 'inference@bench.example' })) as { key: string };
      const [deviceToken] = await enrollDevices(gw, 1, 'inference', key);
      const direct = await load(new URL('/v1/chat/completions', demoUrl), { authorization: `Bearer ${PROVIDER_KEY}` }, upstream.pid!, concurrency, seconds);
      const governed = await load(new URL('/openai/v1/chat/completions', gw.url), { authorization: `Bearer ${key}`, [DEVICE_TOKEN_HEADER]: deviceToken! }, gw.pid, concurrency, seconds, upstream.pid);
      const { upstreamCpuUs, ...gateway } = governed;
      const { upstreamCpuUs: _unused, ...directLevel } = direct;
      return { concurrency, direct: directLevel, gateway, upstreamCpuPerRequestUs: upstreamCpuUs / governed.requests, gatewayRssMiB: rssBytes(gw.pid) / 2 ** 20 };
    } finally {
      await gw.stop();
    }
  } finally {
    upstream.stdin.end();
    upstream.kill();
  }
}

export function formatGatewayInference(r: GatewayInferenceResult): string[] {
  const line = (name: string, l: InferenceLevel, cpuOf: string) =>
    `${name.padEnd(8)} ${Math.round(l.reqPerSec).toString().padStart(6)} req/s  p50 ${l.p50Ms.toFixed(3)} ms  p99 ${l.p99Ms.toFixed(3)} ms  ${cpuOf} CPU ${Math.round(l.cpuPerRequestUs)} µs/request  (${l.requests} requests, ${l.errors} not 200)`;
  return [
    `c=${r.concurrency}, non-streaming chat completions, kept-alive connections:`,
    line('direct', r.direct, 'DEMO upstream'),
    line('gateway', r.gateway, 'gateway'),
    `the DEMO upstream behind the gateway: CPU ${Math.round(r.upstreamCpuPerRequestUs)} µs/request; gateway RSS after the run ${r.gatewayRssMiB.toFixed(1)} MiB`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--cpu-prof');
  const result = await benchGatewayInference(at > 0 ? { cpuProfileDir: process.argv[at + 1]! } : {});
  console.log(formatGatewayInference(result).join('\n'));
}
