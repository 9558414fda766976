// Child process for the kill -9 durability test: enqueues audit events in a loop and, after each
// enqueue has returned (its transaction committed), writes the seq to fd 3. The parent kills it
// with SIGKILL mid-loop and compares what was acknowledged with what the store holds.
// Not stdout: Node puts fd 1 in non-blocking mode as soon as anything touches process.stdout (the
// logger does), so a writeSync to it fails with EAGAIN when the parent reads slowly (a loaded
// machine). Node leaves fd 3 as the parent made it, blocking, so the child waits for the reader.
import { writeSync } from 'node:fs';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';
import { Outbox, SYNC_MIGRATIONS } from '../../agent/src/sync/index.ts';

const stateDir = process.argv[2];
if (!stateDir) throw new Error('usage: outbox-writer-child.ts STATE_DIR');
const logger = silentLogger();
const store = new Store({ stateDir, logger, migrations: [SYNC_MIGRATIONS] });
const outbox = new Outbox({ db: store.db, logger });
const ACKS_FD = 3;
writeSync(ACKS_FD, 'ready\n');
for (let i = 0; ; i++) {
  const seq = outbox.enqueue({ type: 'request', at: new Date().toISOString(), app: 'codex', attrs: { i, note: 'x'.repeat(200) } });
  writeSync(ACKS_FD, `${seq}\n`);
}
