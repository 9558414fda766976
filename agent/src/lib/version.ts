// The agent's version: the repository's one version (lib/version.ts).
import { VERSION } from '../../../lib/index.ts';

export const AGENT_VERSION: string = VERSION;
