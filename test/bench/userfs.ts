// Benchmark: the MCP scan of a 1,000-project home (the mcp bench's home) with every read going through
// a per-user userfs helper process (framed requests over stdio, each path walked without following
// a link) against the same scan read in-process, as the ratio helper / in-process. The helper is the
// price of reading other users' files with their own credentials; one helper serves the whole scan.
// Run alone with `node test/bench/run.ts userfs --no-write`.
import { UserFsPool } from '../../agent/src/userfs/index.ts';
import { buildBenchHome } from './mcp.ts';

export interface UserFsBench {
  inProcessMs: number[];
  helperMs: number[];
  /** The helper's first scan, which includes starting the helper process. */
  helperColdMs: number;
  servers: number;
}

async function scans(runs: number, pool: UserFsPool | undefined): Promise<{ ms: number[]; servers: number }> {
  const { rig } = await buildBenchHome(1000, false, pool ? { userFs: pool } : {});
  try {
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      await rig.governor.rescan();
      ms.push(performance.now() - start);
    }
    return { ms, servers: rig.governor.inventory().servers.length };
  } finally {
    await rig.close();
    await pool?.close();
  }
}

export async function benchUserFsScan(runs = 5): Promise<UserFsBench> {
  const inProcess = await scans(runs, undefined);
  // alwaysHelper: the bench runs as one user, so the helper is forced even for that user's own home.
  const helper = await scans(runs + 1, new UserFsPool({ alwaysHelper: true }));
  if (helper.servers !== inProcess.servers) throw new Error(`helper scan found ${helper.servers} servers, in-process ${inProcess.servers}`);
  return { inProcessMs: inProcess.ms, helperMs: helper.ms.slice(1), helperColdMs: helper.ms[0]!, servers: helper.servers };
}
