import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  buildRegQueryCommand,
  interpretRegQuery,
  parseManagedJson,
  parseManagedPreferences,
  parseRegQueryOutput,
} from '../../agent/src/config/index.ts';

const fixture = (name: string): Buffer => readFileSync(path.join(import.meta.dirname, '../fixtures/config', name));

describe('macOS managed preferences reader', () => {
  it('reads a binary plist as macOS writes it', async () => {
    const read = await parseManagedPreferences(fixture('managed-preferences-binary.plist'));
    expect(read).toEqual({
      status: 'ok',
      values: expect.objectContaining({ gateway_url: 'https://ai-gateway.acme.example', proxy_port: 7500, intercept: true, ca_mode: 'gateway' }),
    });
  });

  it('reads the XML form with typed integers and booleans', async () => {
    const read = await parseManagedPreferences(fixture('managed-preferences-xml.plist'));
    expect(read.status).toBe('ok');
    if (read.status !== 'ok') return;
    expect(read.values['proxy_port']).toBe(7500);
    expect(read.values['intercept']).toBe(false);
    expect(read.values['organization']).toBe('Acme Corp');
  });

  it('reports a truncated binary plist as unreadable instead of throwing', async () => {
    const whole = fixture('managed-preferences-binary.plist');
    const read = await parseManagedPreferences(whole.subarray(0, whole.length - 20));
    expect(read.status).toBe('unreadable');
    if (read.status === 'unreadable') expect(read.reason).toMatch(/not a valid property list/);
  });

  it('refuses a plist whose top level is not a dictionary', async () => {
    const read = await parseManagedPreferences(Buffer.from('<?xml version="1.0"?><plist version="1.0"><array><string>x</string></array></plist>'));
    expect(read).toEqual({ status: 'unreadable', reason: 'its top level must be a dictionary of settings' });
  });
});

describe('Windows policy registry reader', () => {
  it('builds a reg query of the policy key', () => {
    expect(buildRegQueryCommand()).toEqual({ file: 'reg.exe', args: ['query', 'HKLM\\SOFTWARE\\Policies\\Heimdall'] });
  });

  it('parses strings, DWORDs, multi-strings and empty values of the key but not of its subkeys', () => {
    const values = parseRegQueryOutput(fixture('reg-query-policies.txt').toString('utf8'));
    expect(values).toEqual({
      gateway_url: 'https://ai-gateway.acme.example',
      organization: 'Acme Corp (EMEA)',
      support_url: 'https://help.acme.example/ai?team=it',
      proxy_port: 7500,
      intercept: 0,
      ca_mode: 'gateway',
      notes: ['first line', 'second line'],
      empty_value: '',
    });
  });

  it('treats a missing key as no MDM settings, and other failures as unreadable', () => {
    const missing = fixture('reg-query-missing.txt').toString('utf8');
    expect(interpretRegQuery({ exitCode: 1, stdout: '', stderr: missing })).toEqual({ status: 'absent' });
    expect(interpretRegQuery({ exitCode: 5, stdout: '', stderr: 'ERROR: Access is denied.' })).toEqual({
      status: 'unreadable',
      reason: 'reg query exited with 5: ERROR: Access is denied.',
    });
  });
});

describe('managed JSON file reader', () => {
  it('names the JSON error and refuses non-object roots and empty files', () => {
    const bad = parseManagedJson('{"gateway_url": "https://x.example",}');
    expect(bad.status).toBe('unreadable');
    if (bad.status === 'unreadable') expect(bad.reason).toMatch(/^it is not valid JSON: /);
    expect(parseManagedJson('[1,2]')).toEqual({ status: 'unreadable', reason: 'its top level must be a JSON object of settings' });
    expect(parseManagedJson('  \n')).toMatchObject({ status: 'unreadable', reason: expect.stringMatching(/empty/) });
  });
});
