// A PostgreSQL session lost while the gateway holds its pooled client (a transaction or a session in
// progress when the server restarts or an operator kills the backend): pg emits 'error' on that
// client, and the pool listens only on idle ones, so with no listener of ours the gateway process
// would end on an uncaught exception. Run in a real child process, since an uncaught exception is
// exactly what must not happen.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

let server: TestPostgres;
beforeAll(async () => {
  server = await startTestPostgres();
});
afterAll(() => server.stop());

describe('a pooled PostgreSQL client lost while checked out', () => {
  it('is dropped from the pool without an uncaught exception, and the pool goes on answering', async () => {
    const url = await server.createDatabase(`lost_${process.pid}`);
    const child = path.join(import.meta.dirname, 'lost-connection-child.ts');
    const out = execFileSync(process.execPath, [child, url], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out.trim()).toBe('survived');
  });
});
