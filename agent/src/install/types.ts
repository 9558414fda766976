// What `heimdall install` changes on a machine, as data: a plan per OS, built by pure functions from
// facts gathered first, then applied (and recorded) by one executor.

export type InstallPlatform = 'linux' | 'darwin' | 'win32';

/** A file Heimdall owns while installed: written on install, restored byte for byte (or removed) on uninstall. */
export interface FileChange {
  kind: 'file';
  path: string;
  content: string;
  mode: number;
  why: string;
}

/** A symbolic link Heimdall adds (a systemd `.wants` entry); removed on uninstall. */
export interface SymlinkChange {
  kind: 'symlink';
  path: string;
  target: string;
  why: string;
}

/**
 * Where a command can run: `always` (it acts on files the executor can reach, even under --root),
 * `live` (only on the running system), `service` (live and the service manager is up).
 */
export type CommandScope = 'always' | 'live' | 'service';

/** A command whose effect another command takes back (a certificate in a store, a registry value, a service). */
export interface CommandChange {
  kind: 'command';
  run: readonly string[];
  /** null: nothing to take back (starting a service that uninstall stops through another change). */
  undo: readonly string[] | null;
  scope: CommandScope;
  why: string;
}

export type Change = FileChange | SymlinkChange | CommandChange;

/** Rebuilds state derived from files (update-ca-certificates, dconf update), after install and after uninstall. */
export interface Refresh {
  run: readonly string[];
  /** What to run on uninstall instead of `run`, when rebuilding after a removal takes another flag. */
  afterRemoval?: readonly string[];
  scope: CommandScope;
  why: string;
}

export interface InstallPlan {
  platform: InstallPlatform;
  /** Applied in order on install, taken back in reverse order on uninstall. */
  changes: Change[];
  /** Run after the file changes, on install and again on uninstall. */
  refreshes: Refresh[];
  /** Run last on install (start the service), first on uninstall (stop it). */
  services: CommandChange[];
  /** Things install did not do and why (a person reads these). */
  notes: string[];
}

/** What the packages and a by-hand install agree on about the proxy a machine's apps are sent to. */
export interface ProxyFacts {
  proxyUrl: string;
  pacUrl: string;
  /** Heimdall's CA alone, where it stays while installed. */
  caCertPath: string;
  /** System roots plus Heimdall's CA. */
  caBundlePath: string;
}
