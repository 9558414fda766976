// Child of lost-connection.test.ts: a PgDatabase whose checked-out client loses its server session
// (pg_terminate_backend from another pooled connection) while the code holding it waits. An 'error'
// event with no listener would end this process with an uncaught exception; it must print `survived`.
import { PgDatabase } from '../../gateway/src/store/postgres/db.ts';

const url = process.argv[2];
if (!url) throw new Error('usage: lost-connection-child.ts POSTGRES_URL');
const db = new PgDatabase({ url, onIdleError: () => undefined });
await db.session(async (client) => {
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const ended = new Promise((resolve) => client.once('end', resolve));
  await db.run('SELECT pg_terminate_backend($1)', [pid]);
  // The session's end (after its 'error') arrives while this client is still checked out.
  await ended;
});
// The pool still serves: the broken client was dropped, not given back.
const one = await db.one<{ one: number }>('SELECT 1 AS one');
console.log(one?.one === 1 ? 'survived' : 'the pool did not answer');
await db.close();
