// JSON Schemas of every protocol message, generated from the zod schemas, and the code that keeps the
// copies in docs/protocol.md identical to them (a test fails when the two drift).
import { z } from 'zod';
import { AGENT_MESSAGE_SCHEMAS, GATEWAY_MESSAGE_SCHEMAS, enrollRequestSchema, enrollResponseSchema, challengeResponseSchema, tokenRequestSchema, tokenResponseSchema } from './messages.ts';
import {
  authorizationServerMetadataSchema, deviceAuthorizationResponseSchema, deviceEnrollmentSchema, oauthErrorSchema, oauthTokenRequestSchema, oauthTokenResponseSchema, userAccessClaimsSchema,
} from './sso.ts';

export interface SchemaDoc {
  /** Marker key in docs/protocol.md, e.g. `agent/hello`, `gateway/policy`, `http/enroll-request`. */
  key: string;
  json: string;
}

function toJson(schema: z.ZodType): string {
  const generated = z.toJSONSchema(schema, {
    io: 'input',
    // The RFC 3339 regex zod emits next to `format: date-time` is unreadable and says nothing the format does not.
    override: (ctx) => {
      const js = ctx.jsonSchema as { format?: string; pattern?: string };
      if (js.format === 'date-time') delete js.pattern;
    },
  });
  delete (generated as { $schema?: string }).$schema;
  return JSON.stringify(generated, null, 2);
}

/** Every schema docs/protocol.md must carry, in document order. */
export function protocolSchemaDocs(): SchemaDoc[] {
  const docs: SchemaDoc[] = [];
  for (const [type, schema] of Object.entries(AGENT_MESSAGE_SCHEMAS)) docs.push({ key: `agent/${type}`, json: toJson(schema) });
  for (const [type, schema] of Object.entries(GATEWAY_MESSAGE_SCHEMAS)) docs.push({ key: `gateway/${type}`, json: toJson(schema) });
  docs.push({ key: 'http/enroll-request', json: toJson(enrollRequestSchema) });
  docs.push({ key: 'http/enroll-response', json: toJson(enrollResponseSchema) });
  docs.push({ key: 'http/challenge-response', json: toJson(challengeResponseSchema) });
  docs.push({ key: 'http/token-request', json: toJson(tokenRequestSchema) });
  docs.push({ key: 'http/token-response', json: toJson(tokenResponseSchema) });
  docs.push({ key: 'sso/authorization-server-metadata', json: toJson(authorizationServerMetadataSchema) });
  docs.push({ key: 'sso/token-request', json: toJson(oauthTokenRequestSchema) });
  docs.push({ key: 'sso/device-enrollment', json: toJson(deviceEnrollmentSchema) });
  docs.push({ key: 'sso/token-response', json: toJson(oauthTokenResponseSchema) });
  docs.push({ key: 'sso/error', json: toJson(oauthErrorSchema) });
  docs.push({ key: 'sso/device-authorization-response', json: toJson(deviceAuthorizationResponseSchema) });
  docs.push({ key: 'sso/user-access-claims', json: toJson(userAccessClaimsSchema) });
  return docs;
}

const BLOCK = /<!-- schema:([a-z./_-]+) -->\n```json\n[\s\S]*?\n```\n<!-- \/schema -->/g;

function block(key: string, json: string): string {
  return `<!-- schema:${key} -->\n\`\`\`json\n${json}\n\`\`\`\n<!-- /schema -->`;
}

export interface RenderResult {
  markdown: string;
  /** Keys the document has no block for. */
  missing: string[];
  /** Blocks in the document that name no schema. */
  unknown: string[];
}

/** Rewrites every `<!-- schema:KEY -->` block of the document with the schema generated from the code. */
export function renderSchemaBlocks(markdown: string): RenderResult {
  const byKey = new Map(protocolSchemaDocs().map((d) => [d.key, d.json]));
  const seen = new Set<string>();
  const unknown: string[] = [];
  const out = markdown.replace(BLOCK, (whole, key: string) => {
    const json = byKey.get(key);
    if (json === undefined) {
      unknown.push(key);
      return whole;
    }
    seen.add(key);
    return block(key, json);
  });
  const missing = [...byKey.keys()].filter((k) => !seen.has(k));
  return { markdown: out, missing, unknown };
}

/** An empty block for a key, for writing a new section by hand before rendering. */
export function emptySchemaBlock(key: string): string {
  return block(key, '{}');
}
