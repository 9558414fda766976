// Entry of the userfs helper when the agent runs from source (`node helper-main.ts --uid=...`); the
// executables run it as `heimdall __userfs-helper ...` through the CLI's entry instead.
import { runUserFsHelper } from './helper.ts';

void runUserFsHelper(process.argv.slice(2));
