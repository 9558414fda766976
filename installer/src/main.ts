// `npm run package`: builds the single-file executables into dist/executables/.
//   npm run package                              all six targets
//   npm run package -- --targets linux-x64       only these (comma-separated)
//   npm run package -- --addon darwin-arm64=FILE embed an addon compiled on a native runner (repeatable)
import { parseArgs } from 'node:util';
import { buildExecutables, parseAddons, TARGET_NAMES, type TargetName } from './index.ts';

function parseTargets(value: string | undefined): TargetName[] | undefined {
  if (!value) return undefined;
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(TARGET_NAMES as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`--targets: unknown ${unknown.join(', ')}; the targets are ${TARGET_NAMES.join(', ')}`);
  return names as TargetName[];
}

const { values } = parseArgs({ options: { targets: { type: 'string' }, addon: { type: 'string', multiple: true } } });
try {
  const result = await buildExecutables({ targets: parseTargets(values.targets), addons: parseAddons(values.addon) });
  if (result.notBuilt.length > 0) process.exitCode = 1;
} catch (err) {
  console.error(`npm run package: ${(err as Error).message}`);
  process.exitCode = 1;
}
