// Child process for the kill -9 durability test: enqueues audit events in a loop and, after each
// enqueue has returned (its transaction committed), writes the seq to stdout. The parent kills it
// with SIGKILL mid-loop and compares what was acknowledged with what the store holds.
import { writeSync } from 'node:fs';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';
import { Outbox, SYNC_MIGRATIONS } from '../../agent/src/sync/index.ts';

const stateDir = process.argv[2];
if (!stateDir) throw new Error('usage: outbox-writer-child.ts STATE_DIR');
const logger = silentLogger();
const store = new Store({ stateDir, logger, migrations: [SYNC_MIGRATIONS] });
const outbox = new Outbox({ db: store.db, logger });
writeSync(1, 'ready\n');
for (let i = 0; ; i++) {
  const seq = outbox.enqueue({ type: 'request', at: new Date().toISOString(), app: 'codex', attrs: { i, note: 'x'.repeat(200) } });
  writeSync(1, `${seq}\n`);
}
