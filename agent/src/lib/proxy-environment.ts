// The environment that puts a terminal program on the governed proxy (`heimdall env`, `heimdall exec`,
// the daemon's answer to them): which variables, in which order, and how to write them for each
// shell. Pure and free of other imports: the CLI's launcher path loads it without the proxy.
export interface ProxyEnvironmentInput {
  /** `http://127.0.0.1:PORT` */
  proxyUrl: string;
  /** Heimdall's CA certificate alone (PEM file). */
  caCertPath: string;
  /** System roots plus Heimdall's CA (see writeCaBundle): for tools whose variable replaces the roots. */
  caBundlePath: string;
}

/** Hosts never sent to the proxy, even by tools that ignore the PAC. */
const NO_PROXY = 'localhost,127.0.0.1,::1';

/**
 * NODE_USE_ENV_PROXY makes Node build undici's EnvHttpProxyAgent at start-up, which prints
 * "EnvHttpProxyAgent is experimental" (code UNDICI-EHPA) into every Node app's terminal. Node's own
 * --disable-warning (20.11+, allowed in NODE_OPTIONS) silences that one code and nothing else: no
 * code of ours runs inside people's apps, and nothing breaks if Heimdall is removed and the variable
 * stays behind. Node older than 20.11 (end of life) refuses the flag; it also ignores the proxy
 * variables, so it was never governed through them.
 */
export const NODE_WARNING_FLAG = '--disable-warning=UNDICI-EHPA';

/** Variables whose value is added to the person's own (space-separated) instead of replacing it. */
export const APPENDED_VARIABLES: ReadonlySet<string> = new Set(['NODE_OPTIONS']);

/**
 * The variables, in a stable order. Tools differ in which they read: curl and Go read the
 * lower-case proxy names, Node 22.21+ (24.5+) needs NODE_USE_ENV_PROXY=1 to honour them at all (for
 * fetch and http/https), Codex reads SSL_CERT_FILE or CODEX_CA_CERTIFICATE, Python's requests
 * REQUESTS_CA_BUNDLE, curl CURL_CA_BUNDLE (Debian's curl names its CA file explicitly and ignores
 * SSL_CERT_FILE). All but NODE_EXTRA_CA_CERTS replace the trusted roots, so they get the bundle that
 * still holds them. NODE_OPTIONS carries NODE_WARNING_FLAG, appended to the person's own options.
 */
export function buildProxyEnvironment(input: ProxyEnvironmentInput): Array<[string, string]> {
  return [
    ['HTTPS_PROXY', input.proxyUrl],
    ['HTTP_PROXY', input.proxyUrl],
    ['https_proxy', input.proxyUrl],
    ['http_proxy', input.proxyUrl],
    ['NO_PROXY', NO_PROXY],
    ['no_proxy', NO_PROXY],
    ['NODE_EXTRA_CA_CERTS', input.caCertPath],
    ['NODE_USE_ENV_PROXY', '1'],
    ['NODE_OPTIONS', NODE_WARNING_FLAG],
    ['SSL_CERT_FILE', input.caBundlePath],
    ['CODEX_CA_CERTIFICATE', input.caBundlePath],
    ['REQUESTS_CA_BUNDLE', input.caBundlePath],
    ['CURL_CA_BUNDLE', input.caBundlePath],
  ];
}

/** `existing` with each of `added`'s space-separated options appended unless already there. */
export function appendOptions(existing: string | undefined, added: string): string {
  const have = (existing ?? '').split(/\s+/).filter(Boolean);
  const missing = added.split(/\s+/).filter((o) => o !== '' && !have.includes(o));
  return [...have, ...missing].join(' ');
}

/** `base` with the proxy environment applied (what `heimdall exec` runs a command with). */
export function applyProxyEnvironment(base: NodeJS.ProcessEnv, input: ProxyEnvironmentInput): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const [name, value] of buildProxyEnvironment(input)) env[name] = APPENDED_VARIABLES.has(name) ? appendOptions(env[name], value) : value;
  return env;
}

export type Shell = 'sh' | 'fish' | 'powershell';

function quoteSh(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function quoteFish(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function quotePowershell(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A line that adds `value` to the variable's current value once (eval'd twice, it adds nothing more). */
function formatAppend(name: string, value: string, shell: Shell): string {
  switch (shell) {
    case 'sh':
      return `case " \${${name}-} " in *${quoteSh(` ${value} `)}*) ;; *) export ${name}="\${${name}:+$${name} }"${quoteSh(value)} ;; esac`;
    case 'fish':
      return `contains -- ${quoteFish(value)} (string split ' ' -- "$${name}"); or set -gx ${name} (string trim -- "$${name} "${quoteFish(value)})`;
    case 'powershell':
      return `if (" $env:${name} " -notlike ${quotePowershell(`* ${value} *`)}) { $env:${name} = ("$env:${name} " + ${quotePowershell(value)}).Trim() }`;
  }
}

/** Lines a shell can `eval` / `source` / `Invoke-Expression`. */
export function formatShellExports(env: ReadonlyArray<readonly [string, string]>, shell: Shell): string {
  const lines = env.map(([name, value]) => {
    if (!VARIABLE_NAME.test(name)) throw new Error(`environment variable name ${JSON.stringify(name)} is not valid in a shell`);
    if (APPENDED_VARIABLES.has(name)) return formatAppend(name, value, shell);
    switch (shell) {
      case 'sh': return `export ${name}=${quoteSh(value)}`;
      case 'fish': return `set -gx ${name} ${quoteFish(value)}`;
      case 'powershell': return `$env:${name} = ${quotePowershell(value)}`;
    }
  });
  return `${lines.join('\n')}\n`;
}
