// The inference contract between the agent's routing table and error answers and the gateway's
// router and refusals: these fail when one side changes a route prefix, a provider's error format or
// an error shape without the other.
import { describe, expect, it } from 'vitest';
import {
  ERROR_FORMATS, ERROR_KINDS, ERROR_KIND_STATUS, ERROR_NAMES, GATEWAY_ROUTE_NAMES, GATEWAY_ROUTES, INTERCEPTED_HOSTS, errorFormatOf,
  providerError as contractError,
} from '../../protocol/index.ts';
import { ROUTES, contractKindOf, gatewayPath, permittedDomains, providerError as agentError, type ErrorKind, type GatewayRouteRow, type RouteId } from '../../agent/src/forward/index.ts';
import { INFERENCE_ROUTES, matchEndpoint, matchRoute, providerError as gatewayError } from '../../gateway/src/inference/index.ts';

const gatewayRows = ROUTES.filter((r): r is Extract<(typeof ROUTES)[number], GatewayRouteRow> => r.mode === 'gateway');

// A request each app really sends on each gateway row (method, path as the app sends it).
const APP_REQUESTS: Partial<Record<RouteId, { method: string; path: string }>> = {
  'openai-api': { method: 'POST', path: '/v1/responses' },
  'anthropic-api': { method: 'POST', path: '/v1/messages' },
  'genai-api': { method: 'POST', path: '/v1beta/models/gemini-2.5-pro:streamGenerateContent' },
  'chatgpt-codex': { method: 'POST', path: '/backend-api/codex/responses' },
};

describe('routes: agent rows against the gateway router', () => {
  it('serves every contract route in the gateway router, and nothing else', () => {
    expect(INFERENCE_ROUTES.map((r) => r.name).sort()).toEqual([...GATEWAY_ROUTE_NAMES].sort());
    for (const route of INFERENCE_ROUTES) expect(route.prefix).toBe(GATEWAY_ROUTES[route.name].prefix);
  });

  it('sends every gateway row, in both modes, to a prefix the gateway serves for the same provider and error format', () => {
    expect(gatewayRows.length).toBeGreaterThan(0);
    for (const row of gatewayRows) {
      for (const passthrough of [false, true]) {
        const match = matchRoute(gatewayPath(row, passthrough, '/x'));
        expect(match, `${row.id} passthrough=${passthrough}`).toBeDefined();
        expect(match!.route.provider, row.id).toBe(row.provider);
        expect(errorFormatOf(match!.route.provider), row.id).toBe(row.errorShape);
        const wantKind = passthrough || row.credentialPolicy === 'native-only' ? 'passthrough' : 'drop-in';
        expect(match!.route.kind, `${row.id} passthrough=${passthrough}`).toBe(wantKind);
      }
    }
  });

  it("serves each app's real request on its gateway row in gateway mode", () => {
    for (const row of gatewayRows) {
      const request = APP_REQUESTS[row.id];
      expect(request, `${row.id}: add the request an app sends on this row to APP_REQUESTS`).toBeDefined();
      const match = matchRoute(gatewayPath(row, false, request!.path))!;
      expect(match.rest).toBe(request!.path);
      expect(matchEndpoint(match.route, request!.method, match.rest, 'http'), row.id).toMatchObject({ ok: true });
    }
  });

  it('intercepts exactly the hosts the interception CA is constrained to', () => {
    expect(new Set(ROUTES.map((r) => r.host))).toEqual(new Set(INTERCEPTED_HOSTS));
    expect(permittedDomains()).toEqual([...INTERCEPTED_HOSTS]);
  });
});

describe('error shapes: one table for both sides', () => {
  it('has a name and a parseable envelope for every error kind in every provider format', () => {
    for (const format of ERROR_FORMATS) {
      for (const kind of ERROR_KINDS) {
        expect(ERROR_NAMES[format][kind], `${format}/${kind}`).toMatch(/^[A-Za-z_]+$/);
        const e = contractError(format, kind, 'why');
        expect(e.status).toBe(ERROR_KIND_STATUS[kind]);
        expect(JSON.stringify(JSON.parse(e.body))).toContain(ERROR_NAMES[format][kind]);
      }
    }
  });

  it("answers each of the agent's situations with the same status and error type the gateway uses for that kind", () => {
    const situations: ErrorKind[] = ['blocked', 'not_signed_in', 'gateway_unreachable', 'gateway_timeout', 'bad_request', 'origin_unreachable', 'internal'];
    const typeOf = (body: string): unknown => {
      const json = JSON.parse(body) as { error: { type?: string; status?: string } };
      return json.error.type ?? json.error.status;
    };
    for (const format of ERROR_FORMATS) {
      for (const situation of situations) {
        const agent = agentError(format, situation, 'detail', undefined);
        const gateway = gatewayError(format, contractKindOf(situation), 'detail');
        expect(agent.status, `${format}/${situation}`).toBe(gateway.status);
        expect(typeOf(agent.body), `${format}/${situation}`).toBe(typeOf(gateway.body));
      }
    }
  });

  it('answers an unreachable or unconfigured upstream as an Anthropic api_error, never overloaded_error (529 only)', () => {
    expect(JSON.parse(agentError('anthropic', 'gateway_unreachable', 'refused', undefined).body).error.type).toBe('api_error');
    expect(JSON.parse(gatewayError('anthropic', 'unavailable', 'no upstream').body).error.type).toBe('api_error');
    expect(JSON.parse(gatewayError('anthropic', 'bad_gateway', 'refused').body).error.type).toBe('api_error');
  });

  it("keeps Heimdall's own OpenAI code apart from the gateway's default", () => {
    expect(JSON.parse(agentError('openai', 'not_signed_in', '', undefined).body).error).toMatchObject({ type: 'invalid_request_error', code: 'heimdall_not_signed_in' });
    expect(JSON.parse(gatewayError('openai', 'authentication', 'bad key').body).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
  });
});
