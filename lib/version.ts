// The one version of the repository, package.json's: the agent, the gateway and their executables
// report it (bundled into the executables at build time).
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
