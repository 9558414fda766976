// Opens the person's default browser on a URL, the way gh and Python's webbrowser do: `$BROWSER`
// first (a list separated like PATH; `%s` stands for the URL, else the URL is appended), then the
// OS's opener: `open` (macOS), `xdg-open` (Linux and BSDs), `start` through cmd.exe (Windows). The
// pure part builds the command lines; launching is a thin shell that tries each in turn.
import { spawn } from 'node:child_process';

export interface BrowserCommand {
  command: string;
  args: string[];
  /** cmd.exe parses its own command line: Node must pass it as written. */
  windowsVerbatimArguments?: boolean;
}

/** Splits one `$BROWSER` entry into words, honouring single and double quotes and backslashes (POSIX shell rules, no expansion). */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote`);
  if (inWord) words.push(word);
  return words;
}

/** The commands `$BROWSER` names for `url`, in order; entries that do not parse are skipped. */
export function browserEnvCommands(browserEnv: string | undefined, url: string, platform: NodeJS.Platform): BrowserCommand[] {
  if (browserEnv === undefined || browserEnv.trim() === '') return [];
  const out: BrowserCommand[] = [];
  for (const entry of browserEnv.split(platform === 'win32' ? ';' : ':')) {
    let words: string[];
    try {
      words = splitCommandLine(entry);
    } catch {
      continue;
    }
    if (words.length === 0) continue;
    const hasSlot = words.some((w) => w.includes('%s'));
    // `%s` is replaced inside a word only: the URL never becomes more than one argument.
    const argv = hasSlot ? words.map((w) => w.replaceAll('%s', url)) : [...words, url];
    out.push({ command: argv[0]!, args: argv.slice(1) });
  }
  return out;
}

/** The OS's own way to open a URL in the default browser. */
export function platformBrowserCommand(url: string, platform: NodeJS.Platform): BrowserCommand | undefined {
  switch (platform) {
    case 'darwin':
      return { command: 'open', args: [url] };
    case 'win32':
      // `start` is a cmd built-in; the empty title keeps a quoted URL from being taken for one. A URL
      // has no `"` (it is percent-encoded), so quoting keeps `&` from splitting the command.
      if (url.includes('"')) return undefined;
      return { command: 'cmd.exe', args: ['/d', '/s', '/c', `start "" "${url}"`], windowsVerbatimArguments: true };
    case 'linux':
    case 'freebsd':
    case 'openbsd':
    case 'netbsd':
      return { command: 'xdg-open', args: [url] };
    default:
      return undefined;
  }
}

/** Every command to try for `url`, `$BROWSER`'s first. */
export function browserCommands(url: string, options: { platform: NodeJS.Platform; env: NodeJS.ProcessEnv }): BrowserCommand[] {
  const own = platformBrowserCommand(url, options.platform);
  return [...browserEnvCommands(options.env['BROWSER'], url, options.platform), ...(own ? [own] : [])];
}

/** Starts one command detached; resolves whether it could be started (not whether a page loaded). */
function launch(cmd: BrowserCommand): Promise<boolean> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(cmd.command, cmd.args, { stdio: 'ignore', detached: true, ...(cmd.windowsVerbatimArguments ? { windowsVerbatimArguments: true } : {}) });
    } catch {
      resolve(false);
      return;
    }
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}

/** Opens `url` with the first command that starts; the command used, or undefined when none could. */
export async function openBrowser(url: string, options: { platform?: NodeJS.Platform; env?: NodeJS.ProcessEnv } = {}): Promise<BrowserCommand | undefined> {
  for (const cmd of browserCommands(url, { platform: options.platform ?? process.platform, env: options.env ?? process.env })) {
    if (await launch(cmd)) return cmd;
  }
  return undefined;
}
