// The routing table: route by path, not by host; every intercepted host has a catch-all.
import { describe, expect, it } from 'vitest';
import { gatewayPath, interceptedHosts, permittedDomains, resolveRoute, ROUTES, type GatewayRouteRow } from '../../agent/src/forward/index.ts';

describe('resolveRoute', () => {
  it.each([
    ['api.openai.com', '/v1/chat/completions', 'openai-api'],
    ['api.openai.com', '/v1', 'openai-api'],
    ['api.openai.com', '/v10/x', 'openai-origin'],
    ['api.openai.com', '/dashboard', 'openai-origin'],
    ['api.anthropic.com', '/v1/messages?beta=true', 'anthropic-api'],
    ['api.anthropic.com', '/api/claude_code/settings', 'anthropic-claude-code'],
    ['api.anthropic.com', '/api/claude_code_penguin_mode', 'anthropic-origin'],
    ['api.anthropic.com', '/api/event_logging/v2/batch', 'anthropic-event-logging'],
    ['api.anthropic.com', '/api/claude_cli/bootstrap', 'anthropic-claude-cli'],
    ['api.anthropic.com', '/mcp-registry/v0/servers', 'anthropic-mcp-registry'],
    ['API.Anthropic.COM.', '/v1/messages', 'anthropic-api'],
    ['generativelanguage.googleapis.com', '/v1beta/models/x:generateContent', 'genai-api'],
    ['chatgpt.com', '/backend-api/codex/responses', 'chatgpt-codex'],
    ['chatgpt.com', '/backend-api/codex/models', 'chatgpt-web'],
    ['chatgpt.com', '/', 'chatgpt-web'],
    ['claude.ai', '/new', 'claude-web'],
  ])('%s %s -> %s', (host, path, id) => {
    expect(resolveRoute(host, path)?.id).toBe(id);
  });

  it('does not intercept hosts outside the table, even look-alikes', () => {
    for (const host of ['openai.com', 'x.api.openai.com', 'api.openai.com.evil.net', 'github.com']) expect(resolveRoute(host, '/v1')).toBeUndefined();
  });

  it('rewrites to the Bifrost drop-in and passthrough routes', () => {
    const openai = resolveRoute('api.openai.com', '/v1/responses') as GatewayRouteRow;
    expect(gatewayPath(openai, false, '/v1/responses')).toBe('/openai/v1/responses');
    expect(gatewayPath(openai, true, '/v1/responses')).toBe('/openai_passthrough/v1/responses');
    const codex = resolveRoute('chatgpt.com', '/backend-api/codex/responses') as GatewayRouteRow;
    expect(gatewayPath(codex, false, '/backend-api/codex/responses')).toBe('/chatgpt_passthrough/backend-api/codex/responses');
  });

  it('lists the intercepted hosts once each, for the CA constraints and the PAC', () => {
    expect(interceptedHosts().sort()).toEqual(['api.anthropic.com', 'api.openai.com', 'chatgpt.com', 'claude.ai', 'generativelanguage.googleapis.com']);
    expect(permittedDomains()).toEqual(interceptedHosts());
    expect(new Set(ROUTES.map((r) => r.id)).size).toBe(ROUTES.length);
  });
});
