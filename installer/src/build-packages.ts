// `npm run package:os`: the OS packages (dist/packages/) from the executables in dist/executables/.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildPackages } from './index.ts';

const repo = path.resolve(import.meta.dirname, '../..');
const version = (JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version;
// Every timestamp inside the packages: SOURCE_DATE_EPOCH when set, else the last commit's time.
const epoch = Number(process.env['SOURCE_DATE_EPOCH'] ?? execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: repo, encoding: 'utf8' }).trim());
const result = await buildPackages({
  executablesDir: path.join(repo, 'dist/executables'),
  outDir: path.join(repo, 'dist/packages'),
  workDir: path.join(repo, '.tmp/packages'),
  version,
  sourceDateEpoch: epoch,
  report: (line) => console.log(line),
});
console.log(`${result.built.length} packages built, ${result.skipped.length} not built`);
if (result.built.length === 0) process.exitCode = 1;
