import { describe, expect, it } from 'vitest';
import { buildGeminiSystemSettings } from '../../agent/src/mcp/apps/gemini-cli.ts';
import { buildVscodePolicyJson } from '../../agent/src/mcp/apps/vscode.ts';

describe('managed policy builders with nothing to block', () => {
  it('writes no Gemini system settings file when none exists and nothing is excluded', () => {
    expect(buildGeminiSystemSettings(undefined, [], [])).toEqual({ text: undefined, added: [] });
  });

  it('leaves an existing Gemini settings file without an mcp list as it is', () => {
    const existing = '{\n  // admin comment\n  "ui": { "theme": "dark" }\n}\n';
    expect(buildGeminiSystemSettings(existing, [], []).text).toBe(existing);
  });

  it('treats an empty Gemini settings file as an empty document', () => {
    expect(buildGeminiSystemSettings('', ['shadow-fs'], []).text).toContain('"shadow-fs"');
  });

  it('removes the list it added once nothing is blocked any more', () => {
    const blocked = buildGeminiSystemSettings('{"ui": {}}', ['shadow-fs'], []);
    const cleared = buildGeminiSystemSettings(blocked.text, [], blocked.added);
    expect(JSON.parse(cleared.text!)).toEqual({ ui: {} });
  });

  it('writes no VS Code policy file when none exists and nothing is blocked', () => {
    expect(buildVscodePolicyJson(undefined, [])).toBeUndefined();
  });
});
