// The servers last read from each config file, with the last good result kept when a file turns
// unreadable, and the redacted inventory built from them. Reading a file goes through its app's
// adapter: the location says how to find the servers in the document, the app how to normalise one.
import type { Logger } from '../lib/logger.ts';
import type { UserFs } from '../userfs/index.ts';
import { fingerprintOf } from './fingerprint.ts';
import type { ConfigTarget } from './plan.ts';
import { ConfigReadError, readConfigDocument } from './read-config.ts';
import { redactServer, type Redactor } from './redact.ts';
import type { McpTables } from './schema.ts';
import type { McpFileError, McpInventory, McpServerReport, NormalizedServer, OsUser } from './types.ts';

export interface FileResult {
  target: ConfigTarget;
  servers: NormalizedServer[];
  errors: McpFileError[];
}

export interface InventoryOptions {
  tables: McpTables;
  redactor: Redactor;
  logger: Logger;
  sizeLimit: number;
  fsFor: (user: OsUser) => UserFs;
}

export class Inventory {
  readonly #o: InventoryOptions;
  readonly #results = new Map<string, FileResult>();

  constructor(options: InventoryOptions) {
    this.#o = options;
  }

  results(): IterableIterator<FileResult> {
    return this.#results.values();
  }

  get(file: string): FileResult | undefined {
    return this.#results.get(file);
  }

  /** Forgets files the plan no longer names. */
  keepOnly(files: ReadonlyMap<string, unknown>): void {
    for (const file of [...this.#results.keys()]) {
      if (!files.has(file)) this.#results.delete(file);
    }
  }

  /** Reads one file again; an unreadable file keeps its last good servers and says why. */
  async read(target: ConfigTarget): Promise<void> {
    const { app, location, user } = target;
    const fileError = (code: McpFileError['code'], message: string, keptLastGood: boolean): McpFileError => ({
      app: app.id,
      configPath: target.path,
      osUser: user.name,
      code,
      message,
      keptLastGood,
    });
    try {
      const read = await readConfigDocument(target.path, location.format, { ownerUid: user.uid, sizeLimit: this.#o.sizeLimit, fs: this.#o.fsFor(user), anchor: target.anchor }, location.streamPaths);
      if (!read) {
        this.#results.delete(target.path);
        this.#o.tables.forgetFile(target.path);
        return;
      }
      const extracted = location.servers(read.doc);
      if (!extracted.ok) throw new ConfigReadError('parse', `${target.path}: ${extracted.message}; the servers last read from it stay in force`);
      const servers: NormalizedServer[] = [];
      const errors: McpFileError[] = [];
      for (const entry of extracted.entries) {
        const n = app.normalize(entry);
        if (n.ok) servers.push(n.server);
        else errors.push(fileError('invalid-entry', `${target.path}: server "${entry.name}": ${n.message}; skipped, the other servers in the file are reported`, false));
      }
      this.#results.set(target.path, { target, servers, errors });
      this.#o.tables.saveLastGood(target.path, app.id, user.name, servers);
    } catch (err) {
      if (!(err instanceof ConfigReadError)) throw err;
      const last = this.#results.get(target.path)?.servers ?? this.#o.tables.lastGood(target.path);
      this.#results.set(target.path, { target, servers: last ?? [], errors: [fileError(err.code, err.message, last !== undefined)] });
      this.#o.logger.warn({ path: target.path, code: err.code }, err.message);
    }
  }

  /** The redacted inventory, files in path order. */
  report(generatedAt: string): McpInventory {
    const servers: McpServerReport[] = [];
    const errors: McpFileError[] = [];
    for (const r of [...this.#results.values()].sort((a, b) => a.target.path.localeCompare(b.target.path))) {
      errors.push(...r.errors);
      for (const s of r.servers) {
        servers.push(
          redactServer(this.#o.redactor, s, {
            app: r.target.app.id,
            scope: s.projectPath !== undefined ? 'project' : r.target.location.scope,
            configPath: r.target.path,
            osUser: r.target.user.name,
            fingerprint: fingerprintOf(s),
          }),
        );
      }
    }
    return { generatedAt, servers, errors };
  }
}
