// The admin console in a real browser (issue 20): headless Debian Chromium, driven by playwright-core,
// against a real `heimdall-gateway run` on loopback with a real agent daemon connected and signed in.
// An administrator signs in with the admin token, blocks pending apps from Settings, approves a pending
// app from the Apps list and the agent's next request passes; denies an MCP server and the agent's
// enforcement event arrives; revokes the device and the agent is disconnected. axe-core checks every
// page, and every page is saved as a screenshot at a desktop and a narrow width (the path is printed).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/process.ts';
import { BASE_PATH, chatBody, copyCurl, E2e, pollUntil, type GatewayEvent, type SystemUnderTest } from './harness.ts';

// Debian's chromium; `npm test` (scripts/dev.sh) names it when it is missing.
const CHROMIUM = '/usr/bin/chromium';
const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SCREENSHOTS = path.join(REPO_ROOT, '.tmp/console-screenshots');
const MCP_SECRET = 'AIzaSyConsoleTestSecret-0123456789abcdef';
const PAGES = ['/console/', '/console/apps', '/console/mcp-servers', '/console/devices', '/console/settings', '/console/keys', '/console/events'];

const e2e = new E2e();
let sut: SystemUnderTest;
let browser: Browser;
let page: Page;
let tool: string;
let proxyEnv: Record<string, string>;

/** The unknown tool (a renamed curl) called through the agent's proxy: the HTTP status it got. */
async function runTool(): Promise<number> {
  const r = await e2e.run(tool, ['-sS', '-o', '/dev/null', '-w', '%{http_code}', 'https://api.openai.com/v1/chat/completions', '-H', 'Authorization: Bearer sk-app-own', '-H', 'content-type: application/json', '-d', chatBody('hi')], {
    env: { PATH: BASE_PATH, HOME: path.dirname(tool), ...proxyEnv },
  });
  return Number(r.stdout);
}

async function policyVersion(): Promise<number> {
  return (await sut.agent.statusNow()).sections.policy.version ?? 0;
}

/** Runs axe-core in the page; returns the violations as `rule: target` lines. */
async function axeViolations(p: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, so the page's CSP (script-src 'self') does not apply to it.
  await p.evaluate(AXE_SOURCE);
  // A string: it runs in the page, where `document` and `axe` exist (this file has no DOM types).
  const result = await p.evaluate<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }>("axe.run(document, { resultTypes: ['violations'] })");
  return result.violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(' ')}`));
}

beforeAll(async () => {
  sut = await e2e.system();
  const tools = e2e.dir('tools');
  tool = path.join(tools, 'shadow-ai');
  copyCurl(tool);
  proxyEnv = await sut.agent.proxyEnv();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // The revoke button asks first (progressive enhancement); the administrator says yes.
  page.on('dialog', (dialog) => void dialog.accept());
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await e2e.cleanup();
});

describe('the admin console in Chromium with a real agent connected', () => {
  it('signs in with the admin token from the form', async () => {
    await page.goto(`${sut.gateway.url}/console/`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await page.getByLabel('Admin token').fill(fs.readFileSync(path.join(sut.gateway.dataDir, 'admin-token'), 'utf8').trim());
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${sut.gateway.url}/console/`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Overview');
    const cookies = await page.context().cookies();
    expect(cookies).toEqual([expect.objectContaining({ name: 'heimdall-console', httpOnly: true, sameSite: 'Strict', path: '/console' })]);
  }, 60_000);

  it('blocks pending apps from Settings, then approving the app in the Apps list lets the agent’s next request pass', async () => {
    const before = await policyVersion();
    await page.goto(`${sut.gateway.url}/console/settings`);
    await page.getByLabel(/^Pending action/).selectOption('block');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.waitForURL(`${sut.gateway.url}/console/settings`);
    expect(await page.getByRole('status').textContent()).toContain('Settings saved.');
    await sut.agent.waitForPolicy(before + 1, 5_000);
    expect(await runTool()).toBe(403);

    const { value: appId } = await pollUntil(
      'shadow-ai pending in the gateway app catalog',
      async () => ((await sut.gateway.admin('/admin/v1/apps?status=pending')).apps as { id: string; display_name: string }[]).find((a) => a.display_name === 'shadow-ai')?.id,
      { deadlineMs: 5_000, intervalMs: 100 },
    );
    await page.goto(`${sut.gateway.url}/console/apps?status=pending`);
    await page.getByRole('button', { name: 'Approve shadow-ai' }).click();
    await page.waitForURL(/\/console\/apps/);
    expect(await page.getByRole('status').textContent()).toContain(`Approved: app ${appId}.`);
    await pollUntil('a 200 for shadow-ai after the approval in the console', async () => ((await runTool()) === 200 ? true : undefined), { deadlineMs: 5_000 });
    const item = ((await sut.gateway.admin('/admin/v1/apps')).apps as { id: string; status: string }[]).find((a) => a.id === appId);
    expect(item?.status).toBe('approved');
  }, 60_000);

  it('denies an MCP server from the MCP list and the agent’s enforcement event arrives, shown in Events', async () => {
    const home = sut.agent.options.home;
    fs.mkdirSync(path.join(home, '.gemini'), { recursive: true });
    fs.writeFileSync(path.join(home, '.gemini/settings.json'), JSON.stringify({ mcpServers: { files: { command: '/bin/true', args: ['files-server'], env: { GEMINI_API_KEY: MCP_SECRET } } } }));
    const { value: fingerprint } = await pollUntil(
      'the gemini-cli server in the gateway MCP catalog',
      async () => ((await sut.gateway.admin('/admin/v1/mcp-servers')).mcp_servers as { fingerprint: string; app: string; display_name: string }[]).find((s) => s.app === 'gemini-cli' && s.display_name === 'files')?.fingerprint,
      { deadlineMs: 10_000, intervalMs: 200 },
    );
    await page.goto(`${sut.gateway.url}/console/mcp-servers?status=pending`);
    const row = page.getByRole('row').filter({ hasText: fingerprint });
    expect(await row.textContent()).toContain('gemini-cli · user (1 device)');
    // Redacted details: the env name is shown, its value never.
    expect(await page.content()).toContain('GEMINI_API_KEY');
    expect(await page.content()).not.toContain(MCP_SECRET);
    await page.getByRole('button', { name: 'Deny files' }).click();
    await page.waitForURL(/\/console\/mcp-servers/);
    expect(await page.getByRole('status').textContent()).toContain(`Denied: MCP server ${fingerprint}.`);

    await pollUntil(
      'an mcp.enforcement event (policy written) at the gateway',
      async () => ((await sut.gateway.deviceEvents(sut.deviceId, 200)).some((e: GatewayEvent) => e.type === 'mcp.enforcement' && e.attrs['action'] === 'policy-written') ? true : undefined),
      { deadlineMs: 10_000, intervalMs: 200 },
    );
    await page.goto(`${sut.gateway.url}/console/events`);
    await page.getByLabel('Type').fill('mcp.enforcement');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/type=mcp.enforcement/);
    const text = await page.getByRole('table').textContent();
    expect(text).toContain('mcp.enforcement');
    expect(text).toContain('action=policy-written');
  }, 60_000);

  it('passes axe-core on every page, and saves each page at desktop and narrow widths', async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    const failures: string[] = [];
    for (const [width, height, label] of [[1280, 900, 'desktop'], [390, 844, 'narrow']] as const) {
      await page.setViewportSize({ width, height });
      for (const p of PAGES) {
        await page.goto(`${sut.gateway.url}${p}`);
        const name = p === '/console/' ? 'overview' : p.slice('/console/'.length);
        await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${label}.png`), fullPage: true });
        if (label === 'desktop') failures.push(...(await axeViolations(page)).map((v) => `${p}: ${v}`));
      }
    }
    // The sign-in page too (a fresh context: no session).
    const anonymous = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await anonymous.goto(`${sut.gateway.url}/console/sign-in`);
    await anonymous.screenshot({ path: path.join(SCREENSHOTS, 'sign-in-desktop.png') });
    failures.push(...(await axeViolations(anonymous)).map((v) => `/console/sign-in: ${v}`));
    await anonymous.close();
    await page.setViewportSize({ width: 1280, height: 900 });
    console.log(`console screenshots: ${SCREENSHOTS}`);
    expect(failures).toEqual([]);
    expect(fs.readdirSync(SCREENSHOTS).filter((f) => f.endsWith('.png')).length).toBeGreaterThanOrEqual(PAGES.length * 2 + 1);
  }, 120_000);

  it('moves through the navigation with the keyboard alone', async () => {
    await page.goto(`${sut.gateway.url}/console/`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    // Skip link, brand, then the navigation in order.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Apps');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/console\/apps$/);
  }, 30_000);

  it('revokes the device from the Devices list and the agent is disconnected', async () => {
    expect((await sut.agent.statusNow()).sections.sync.state).toBe('connected');
    await page.goto(`${sut.gateway.url}/console/devices`);
    const hostname = ((await sut.gateway.admin(`/admin/v1/devices/${sut.deviceId}`)) as { hostname: string }).hostname;
    await page.getByRole('button', { name: `Revoke ${hostname}` }).click();
    await page.waitForURL(/\/console\/devices/);
    expect(await page.getByRole('status').textContent()).toContain(`Revoked ${hostname}`);
    await pollUntil('the agent revoked', async () => ((await sut.agent.statusNow()).sections.sync.state === 'revoked' ? true : undefined), { deadlineMs: 10_000, intervalMs: 100 });
    const device = (await sut.gateway.admin(`/admin/v1/devices/${sut.deviceId}`)) as { connected: boolean; revoked_at: string | null };
    expect(device.connected).toBe(false);
    expect(device.revoked_at).not.toBeNull();
    const row = page.getByRole('row').filter({ hasText: sut.deviceId });
    expect(await row.textContent()).toContain('revoked');
  }, 60_000);
});
