// `heimdall ca path|pem|fingerprint`: what an admin needs to trust the interception CA.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { fetchFromDaemon } from '../daemon-facts.ts';
import { withDaemonLocation, type DaemonLocation } from '../local-daemon.ts';

interface CaFacts {
  mode: string;
  certificate_path: string | null;
  bundle_path: string | null;
  fingerprint_sha256: string | null;
}

const FIELDS = ['path', 'pem', 'fingerprint'] as const;
type Field = (typeof FIELDS)[number];

export function registerCa(program: Command): void {
  withDaemonLocation(
    program
      .command('ca')
      .description('Print the interception CA: its file path, its PEM, or its SHA-256 fingerprint')
      .argument('<what>', `one of ${FIELDS.join(', ')}`),
  )
    .addHelpText('after', '\nExamples:\n  heimdall ca fingerprint\n  heimdall ca pem > heimdall-ca.pem\n')
    .action(async (what: string, opts: DaemonLocation) => {
      if (!(FIELDS as readonly string[]).includes(what)) {
        console.error(`heimdall ca: <what>: expected one of ${FIELDS.map((f) => `"${f}"`).join(', ')}, got ${JSON.stringify(what)}`);
        process.exitCode = 2;
        return;
      }
      const ca = await fetchFromDaemon<CaFacts>(opts, '/v1/ca');
      const field = what as Field;
      if (field === 'path') console.log(ca.certificate_path);
      else if (field === 'fingerprint') console.log(ca.fingerprint_sha256);
      else process.stdout.write(await readFile(ca.certificate_path!, 'utf8'));
    });
}
