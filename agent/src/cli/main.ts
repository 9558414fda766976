// The `heimdall` entry. `heimdall exec` and `heimdall env` go to the launcher's fast path (launch.ts),
// which loads a few modules instead of the whole CLI; everything else to program.ts. Both are
// imported on demand: in the bundle esbuild then evaluates only the modules the chosen path reaches.
//
// An async main rather than top-level await: the executables run this as a CommonJS script (Node 22's
// single-executable applications accept no ES module), and CommonJS has no top-level await.
async function main(argv: readonly string[]): Promise<void> {
  if (argv[2] === 'exec' || argv[2] === 'env') {
    const { launch } = await import('./launch.ts');
    if (await launch(argv)) return;
  }
  const { runProgram } = await import('./program.ts');
  await runProgram(argv);
}

main(process.argv).catch((err: unknown) => {
  console.error(`heimdall: ${(err as Error).message}`);
  process.exitCode = 1;
});
