// What both proxy children of the benchmark start with: their arguments, and a Heimdall CA in the
// state dir with a leaf minted for every routing-table host, as the daemon mints them at start.
import { silentLogger, type Logger } from '../../agent/src/lib/logger.ts';
import { CertificateManager, loadOrCreateLocalCa } from '../../agent/src/tls/index.ts';
import { interceptedHosts, permittedDomains } from '../../agent/src/forward/index.ts';

export interface ChildSetup {
  upstreamUrl: string;
  upstreamCaPath: string;
  caPem: string;
  certificates: CertificateManager;
  logger: Logger;
}

/** Reads `[stateDir, upstreamUrl, upstreamCaPath]` from argv (exits with usage if missing) and mints the leaves. */
export async function setUpChild(script: string): Promise<ChildSetup> {
  const [stateDir, upstreamUrl, upstreamCaPath] = process.argv.slice(2);
  if (!stateDir || !upstreamUrl || !upstreamCaPath || !process.send) {
    console.error(`usage: fork(${script}, [stateDir, upstreamUrl, upstreamCaPath])`);
    process.exit(2);
  }
  const logger = silentLogger();
  const ca = await loadOrCreateLocalCa({ stateDir, permittedDomains: permittedDomains(), logger });
  const certificates = new CertificateManager({ signer: ca.signer, logger });
  await certificates.prewarm(interceptedHosts());
  return { upstreamUrl, upstreamCaPath, caPem: ca.certPem, certificates, logger };
}
