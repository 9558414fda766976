// The agent's version: the repository's one version (lib/version.ts).
import { VERSION } from '../../../lib/index.ts';

export const AGENT_VERSION: string = VERSION;

// Replaced by the executables' build (installer/src/executables/bundle.ts) with the git commit built.
declare const HEIMDALL_COMMIT: string | undefined;

/** The git commit this executable was built from; undefined when run from source. */
export const AGENT_COMMIT: string | undefined = typeof HEIMDALL_COMMIT === 'string' ? HEIMDALL_COMMIT : undefined;
