// `npm run package`: builds the single-file executables into dist/executables/.
//   npm run package                              all six targets
//   npm run package -- --targets linux-x64       only these (comma-separated)
import { parseArgs } from 'node:util';
import { buildExecutables, TARGET_NAMES, type TargetName } from './index.ts';

function parseTargets(value: string | undefined): TargetName[] | undefined {
  if (!value) return undefined;
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(TARGET_NAMES as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`--targets: unknown ${unknown.join(', ')}; the targets are ${TARGET_NAMES.join(', ')}`);
  return names as TargetName[];
}

const { values } = parseArgs({ options: { targets: { type: 'string' } } });
try {
  const result = await buildExecutables({ targets: parseTargets(values.targets) });
  if (result.notBuilt.length > 0) process.exitCode = 1;
} catch (err) {
  console.error(`npm run package: ${(err as Error).message}`);
  process.exitCode = 1;
}
