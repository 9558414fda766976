// Facts about this machine that the gateway shows IT (hostname, OS, version, architecture, agent
// version), sent at enrollment and in every `hello`. Reading them never fails: unknown is "unknown".
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The operating systems Heimdall runs on, named as the protocol names them. */
export type DeviceOs = 'linux' | 'darwin' | 'windows';

export interface DeviceFacts {
  deviceId: string;
  hostname: string;
  os: DeviceOs;
  osVersion: string;
  arch: string;
  agentVersion: string;
}

function platformName(platform: NodeJS.Platform): DeviceOs {
  if (platform === 'linux' || platform === 'darwin') return platform;
  if (platform === 'win32') return 'windows';
  // FreeBSD, AIX...: the protocol has no name for them and nothing else in the agent supports them.
  throw new Error(`Heimdall does not support the ${platform} platform`);
}

/** `PRETTY_NAME` of an os-release file, e.g. "Debian GNU/Linux 12 (bookworm)". */
export function parseOsRelease(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /^PRETTY_NAME=(.*)$/.exec(line.trim());
    if (m?.[1]) return m[1].replace(/^["']|["']$/g, '').trim() || undefined;
  }
  return undefined;
}

/** `ProductVersion` of macOS's SystemVersion.plist, e.g. "14.4.1". */
export function parseMacSystemVersion(plistXml: string): string | undefined {
  return /<key>ProductVersion<\/key>\s*<string>([^<]{1,40})<\/string>/.exec(plistXml)?.[1];
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function osVersion(platform: NodeJS.Platform): string {
  if (platform === 'linux') {
    const pretty = parseOsRelease(readOptional('/etc/os-release') ?? readOptional('/usr/lib/os-release') ?? '');
    return pretty ? `${pretty}; kernel ${os.release()}` : `kernel ${os.release()}`;
  }
  if (platform === 'darwin') {
    const version = parseMacSystemVersion(readOptional('/System/Library/CoreServices/SystemVersion.plist') ?? '');
    return version ? `macOS ${version}` : `Darwin ${os.release()}`;
  }
  if (platform === 'win32') return `Windows ${os.release()}`;
  return os.release();
}

// The protocol bounds these fields (hostname 255, os_version 128, agent_version 64) and refuses
// control characters; a long kernel string or an odd hostname must not make every hello invalid.
function bounded(value: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  return (clean === '' ? 'unknown' : clean).slice(0, max);
}

export function collectDeviceFacts(input: { deviceId: string; agentVersion: string }): DeviceFacts {
  return {
    deviceId: input.deviceId,
    hostname: bounded(os.hostname(), 255),
    os: platformName(process.platform),
    osVersion: bounded(osVersion(process.platform), 128),
    arch: process.arch,
    agentVersion: bounded(input.agentVersion, 64),
  };
}
