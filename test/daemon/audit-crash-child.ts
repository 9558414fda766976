// Child process for the crash test of the exchange auditor: builds the auditor on a real store as the
// daemon does (flushAuditAtExit, and run.ts's handler that exits on an uncaught exception), audits
// `count` exchanges, and throws in the same turn, before any batch timer could fire.
import { createExchangeAuditor, flushAuditAtExit } from '../../agent/src/daemon/audit.ts';
import type { ExchangeRecord } from '../../agent/src/intercept/index.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { POLICY_MIGRATIONS, SeenApps } from '../../agent/src/policy/index.ts';
import { Store } from '../../agent/src/store/index.ts';
import { Outbox, SYNC_MIGRATIONS } from '../../agent/src/sync/index.ts';

const [stateDir, countArg] = process.argv.slice(2);
if (!stateDir || !countArg) throw new Error('usage: audit-crash-child.ts STATE_DIR COUNT');
const logger = silentLogger();
const store = new Store({ stateDir, logger, migrations: [POLICY_MIGRATIONS, SYNC_MIGRATIONS] });
const audit = createExchangeAuditor({ outbox: new Outbox({ db: store.db, logger }), seen: new SeenApps({ db: store.db }), logger });
flushAuditAtExit(audit);
process.on('uncaughtException', () => process.exit(70));

setTimeout(() => {
  for (let i = 0; i < Number(countArg); i++) {
    const record: ExchangeRecord = {
      decision: { verdict: 'allow', status: 'approved', scope: 'global', reason: 'approved', policyVersion: 1 },
      attribution: { appId: 'codex', appName: 'Codex', appKind: 'cli', osUser: 'alice', routingMode: 'gateway' },
      host: 'api.openai.com', routeId: 'openai-api', provider: 'openai', destination: 'gateway', transport: 'https',
      method: 'POST', path: '/v1/chat/completions', status: 200, bytesIn: i, bytesOut: 20, latencyMs: 1,
      requestId: `r${i}`, outcome: 'forwarded', startedAt: new Date().toISOString(),
    };
    audit(record);
  }
  throw new Error('a bug somewhere in the daemon');
}, 0);
