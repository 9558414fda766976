// The agent's version, from package.json (bundled into the executables at build time).
import pkg from '../../../package.json' with { type: 'json' };

export const AGENT_VERSION: string = pkg.version;
