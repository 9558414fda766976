// The agent's version, from package.json (bundled into the executables at build time).
import pkg from '../../../package.json' with { type: 'json' };

export const AGENT_VERSION: string = pkg.version;

// Replaced by the executables' build (installer/src/executables/bundle.ts) with the git commit built.
declare const HEIMDALL_COMMIT: string | undefined;

/** The git commit this executable was built from; undefined when run from source. */
export const AGENT_COMMIT: string | undefined = typeof HEIMDALL_COMMIT === 'string' ? HEIMDALL_COMMIT : undefined;
