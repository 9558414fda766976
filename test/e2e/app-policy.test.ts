// App policy end to end (issue 5): an unknown tool is blocked while pending under
// `pending_action block`, with each provider's error shape naming the app and the support URL;
// the admin approves it at the gateway and the next request passes within a second; a deny blocks
// it again; the agent's `heimdall apps` and `heimdall status` count what happened.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_PATH, chatBody, copyCurl, E2e, pollUntil, SUPPORT_URL, type SystemUnderTest } from './harness.ts';

const e2e = new E2e();
let sut: SystemUnderTest;
let toolDir: string;
/** A copy of curl under another name: no catalog row matches it, so it is an unknown app. */
let tool: string;
let proxyEnv: Record<string, string>;
/** What the tool saw, to compare with the agent's own counts. */
const outcomes = { allowed: 0, blocked: 0 };

beforeAll(async () => {
  sut = await e2e.system();
  toolDir = e2e.dir('tools');
  tool = path.join(toolDir, 'shadow-ai');
  copyCurl(tool);
  proxyEnv = await sut.agent.proxyEnv();
}, 60_000);
afterAll(() => e2e.cleanup());

interface ToolReply {
  status: number;
  body: string;
}

const REQUESTS = {
  openai: ['https://api.openai.com/v1/chat/completions', '-H', 'Authorization: Bearer sk-app-own', '-H', 'content-type: application/json', '-d', chatBody('hi')],
  anthropic: ['https://api.anthropic.com/v1/messages', '-H', 'x-api-key: sk-ant-app-own', '-H', 'content-type: application/json', '-d', JSON.stringify({ model: 'demo-claude', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })],
  google: ['https://generativelanguage.googleapis.com/v1beta/models/demo-gemini:generateContent', '-H', 'x-goog-api-key: app-own', '-H', 'content-type: application/json', '-d', JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] })],
};

function parseReply(stdout: string): ToolReply {
  const cut = stdout.lastIndexOf('\n');
  const reply = { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
  if (reply.status === 200) outcomes.allowed++;
  if (reply.status === 403) outcomes.blocked++;
  return reply;
}

/** The tool as `heimdall exec` runs it. */
async function execTool(provider: keyof typeof REQUESTS): Promise<ToolReply> {
  const r = await sut.agent.exec(tool, ['-sS', '-w', '\n%{http_code}', ...REQUESTS[provider]]);
  expect(r.stderr).not.toMatch(/curl: \(/);
  return parseReply(r.stdout);
}

/** The tool started directly with the environment `heimdall env` prints (what `exec` sets), for cheap polling. */
async function runTool(): Promise<ToolReply> {
  const r = await e2e.run(tool, ['-sS', '-w', '\n%{http_code}', ...REQUESTS.openai], { env: { PATH: BASE_PATH, HOME: toolDir, ...proxyEnv } });
  return parseReply(r.stdout);
}

async function policyVersion(): Promise<number> {
  return (await sut.agent.statusNow()).sections.policy.version as number;
}

describe('an unknown tool under pending_action block', () => {
  let appId: string;

  it('is blocked while pending, in each provider’s error shape, naming the app and the support URL', async () => {
    const before = await policyVersion();
    const set = await sut.gateway.cli(['settings', 'set', 'pending_action', 'block']);
    expect(set.code, set.stderr).toBe(0);
    await sut.agent.waitForPolicy(before + 1, 5_000);

    const openai = await execTool('openai');
    expect(openai.status).toBe(403);
    const openaiError = JSON.parse(openai.body).error;
    expect(openaiError).toMatchObject({ type: 'permission_error', code: 'heimdall_blocked' });
    expect(openaiError.message).toContain('shadow-ai is waiting for approval at Acme: your IT team has been asked to review it');
    expect(openaiError.message).toContain(SUPPORT_URL);

    const anthropic = await execTool('anthropic');
    expect(anthropic.status).toBe(403);
    expect(JSON.parse(anthropic.body)).toMatchObject({ type: 'error', error: { type: 'permission_error', message: expect.stringContaining('shadow-ai') } });
    expect(anthropic.body).toContain(SUPPORT_URL);

    const google = await execTool('google');
    expect(google.status).toBe(403);
    expect(JSON.parse(google.body)).toMatchObject({ error: { code: 403, status: 'PERMISSION_DENIED', message: expect.stringContaining('shadow-ai') } });
    expect(google.body).toContain(SUPPORT_URL);

    // Nothing reached the provider.
    expect(sut.demo.received).toHaveLength(0);

    // The agent reported it once as a pending catalog item, named after the executable.
    const { value: item } = await pollUntil(
      'shadow-ai in the gateway app catalog',
      async () => ((await sut.gateway.json(['apps', 'list'])) as { apps: { id: string; display_name: string; status: string; fleet_count: number }[] }).apps.find((a) => a.display_name === 'shadow-ai'),
      { deadlineMs: 5_000, intervalMs: 100 },
    );
    expect(item).toMatchObject({ status: 'pending', fleet_count: 1, id: expect.stringMatching(/^exe:[0-9a-f]{16}$/) });
    appId = item.id;
  });

  it('passes within a second of the admin approving it', async () => {
    const approve = await sut.gateway.cli(['apps', 'approve', appId]);
    expect(approve.code, approve.stderr).toBe(0);
    const { value: reply } = await pollUntil('a 200 for shadow-ai after approval', async () => {
      const r = await runTool();
      return r.status === 200 ? r : undefined;
    }, { deadlineMs: 1_000 });
    expect(JSON.parse(reply.body).choices[0].message.content).toMatch(/^Hello from the Heimdall demo upstream/);
    expect((await execTool('openai')).status).toBe(200);
  });

  it('is blocked again, with the 403 body, within a second of a deny', async () => {
    const deny = await sut.gateway.cli(['apps', 'deny', appId]);
    expect(deny.code, deny.stderr).toBe(0);
    const { value: reply } = await pollUntil('a 403 for shadow-ai after the deny', async () => {
      const r = await runTool();
      return r.status === 403 ? r : undefined;
    }, { deadlineMs: 1_000 });
    expect(JSON.parse(reply.body)).toEqual({
      error: {
        message: expect.stringMatching(/^shadow-ai is blocked at Acme: an administrator denied it\. If you need it for your work, ask for access with `heimdall request-access exe:[0-9a-f]{16} --reason "why you need it"` or at https:\/\/help\.acme\.example\/ai\.$/),
        type: 'permission_error',
        code: 'heimdall_blocked',
        param: null,
      },
    });
  });

  it('a python3 script is its own app, named by its script, and blocked while pending', async () => {
    const script = path.join(toolDir, 'ask.py');
    fs.writeFileSync(
      script,
      [
        'import json, sys, urllib.error, urllib.request',
        'req = urllib.request.Request("https://api.openai.com/v1/chat/completions", data=b\'{"model":"demo-gpt","messages":[]}\',',
        '    headers={"Authorization": "Bearer sk-app-own", "content-type": "application/json"})',
        'try:',
        '    urllib.request.urlopen(req)',
        '    print(200)',
        'except urllib.error.HTTPError as e:',
        '    print(e.code); print(e.read().decode())',
      ].join('\n'),
    );
    // urllib honours https_proxy, and OpenSSL the SSL_CERT_FILE bundle `heimdall exec` sets.
    const r = await sut.agent.exec('python3', [script]);
    expect(r.code, r.stderr).toBe(0);
    const [status, body] = r.stdout.split('\n');
    expect(status).toBe('403');
    expect(JSON.parse(body!).error.message).toContain('ask.py (python3) is waiting for approval at Acme');
    const apps = (await sut.agent.json(['apps'])) as { appId: string; displayName: string; kind: string; subject: string; blockedCount: number }[];
    expect(apps.find((a) => a.displayName === 'ask.py (python3)')).toMatchObject({ appId: expect.stringMatching(/^script:python3:[0-9a-f]+$/), subject: script, blockedCount: 1 });
  });

  it('shows in `heimdall apps` with its counts, and `heimdall status` counts the blocked requests', async () => {
    const apps = (await sut.agent.json(['apps'])) as { appId: string; displayName: string; kind: string; subject: string; lastStatus: string; allowedCount: number; blockedCount: number }[];
    expect(apps.find((a) => a.appId === appId)).toMatchObject({
      displayName: 'shadow-ai',
      kind: 'unknown',
      subject: tool,
      lastStatus: 'denied',
      allowedCount: outcomes.allowed,
      blockedCount: outcomes.blocked,
    });
    expect(outcomes.blocked).toBeGreaterThanOrEqual(4);

    const status = await sut.agent.json(['status']);
    // shadow-ai and the python script (one blocked request) are blocked now.
    expect(status.sections.policy).toMatchObject({ apps_blocked_now: 2, blocked_requests: outcomes.blocked + 1 });
    const human = await sut.agent.cli(['status']);
    expect(human.stdout).toContain(`${outcomes.blocked + 1} request(s) blocked from 2 app(s)`);
  });
});
