// Turns the app adapters' locations into concrete files for this machine: every user's home, every
// project folder the apps themselves know about, and the managed folder.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigLocation, McpAppAdapter, ProjectSource } from './app-adapter.ts';
import type { UserFs } from '../userfs/index.ts';
import { readConfigDocument, type FileAccess } from './read-config.ts';
import type { OsUser, Platform } from './types.ts';

export interface ConfigTarget {
  path: string;
  app: McpAppAdapter;
  location: ConfigLocation;
  user: OsUser;
  /** The project folder for project-scope files. */
  projectDir?: string;
  /** Where the no-symlink walk to the file starts: the home, the project folder, the managed file's folder. */
  anchor: string;
}

export interface ProjectSourceTarget {
  path: string;
  app: McpAppAdapter;
  source: ProjectSource;
  user: OsUser;
}

export interface Plan {
  targets: Map<string, ConfigTarget>;
  projectSources: Map<string, ProjectSourceTarget>;
  /**
   * Folders whose direct children matter (parents of targets, roots of `*` patterns), each with the
   * folder above which a missing one is not watched for (the home, the project, the managed root).
   */
  watchDirs: Map<string, string>;
  /** Project folders per user name, for status. */
  projects: Map<string, string[]>;
}

/** The managed pseudo-user: root-owned files checked without an owner rule. */
export const SYSTEM_USER: OsUser = { name: 'system', uid: -1, gid: -1, home: '' };

async function childDirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => path.join(dir, d.name));
  } catch {
    return [];
  }
}

/** Expands `*` segments against the disk; returns concrete paths and the folders to watch. */
export async function expandPattern(base: string, rel: string): Promise<{ files: string[]; watch: string[] }> {
  const segments = rel.split('/');
  let current = [base];
  const watch: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg === '*') {
      const next: string[] = [];
      for (const dir of current) {
        watch.push(dir);
        next.push(...(await childDirs(dir)));
      }
      current = next;
    } else {
      current = current.map((c) => path.join(c, seg));
    }
  }
  for (const f of current) watch.push(path.dirname(f));
  return { files: current, watch };
}

export interface PlanOptions {
  apps: readonly McpAppAdapter[];
  platform: Platform;
  users: readonly OsUser[];
  managedRoot: string;
  sizeLimit: number;
  /** File work as each user (the userfs room). */
  fsFor: (user: OsUser) => UserFs;
}

export async function buildPlan(options: PlanOptions): Promise<Plan> {
  const plan: Plan = { targets: new Map(), projectSources: new Map(), watchDirs: new Map(), projects: new Map() };
  const addTarget = (t: ConfigTarget): void => {
    if (!plan.targets.has(t.path)) plan.targets.set(t.path, t);
  };
  for (const user of options.users) {
    const access: FileAccess = { ownerUid: user.uid, sizeLimit: options.sizeLimit, fs: options.fsFor(user), anchor: user.home };
    const projects = new Set<string>();
    for (const app of options.apps) {
      for (const source of app.projectSources) {
        for (const rel of source.paths[options.platform]) {
          const { files, watch } = await expandPattern(user.home, rel);
          watch.forEach((w) => plan.watchDirs.set(w, user.home));
          for (const file of files) {
            plan.projectSources.set(file, { path: file, app, source, user });
            try {
              const doc = await readConfigDocument(file, source.format, access, source.streamPaths, source.streamKeys);
              if (doc) source.projects(doc.doc).filter((p) => path.isAbsolute(p)).forEach((p) => projects.add(path.normalize(p)));
            } catch {
              // An unreadable source only means fewer project folders; the file's own error is
              // reported when it is also a config file (~/.claude.json, config.toml).
            }
          }
        }
      }
    }
    plan.projects.set(user.name, [...projects].sort());
    for (const app of options.apps) {
      for (const location of app.configs) {
        if (location.base === 'managed') continue;
        const bases = location.base === 'home' ? [user.home] : [...projects];
        for (const base of bases) {
          for (const rel of location.paths[options.platform]) {
            const { files, watch } = await expandPattern(base, rel);
            watch.forEach((w) => plan.watchDirs.set(w, base));
            for (const file of files) addTarget(location.base === 'project' ? { path: file, app, location, user, projectDir: base, anchor: base } : { path: file, app, location, user, anchor: base });
          }
        }
      }
    }
  }
  for (const app of options.apps) {
    for (const location of app.configs) {
      if (location.base !== 'managed') continue;
      for (const rel of location.paths[options.platform]) {
        const file = path.join(options.managedRoot, rel);
        plan.watchDirs.set(path.dirname(file), options.managedRoot);
        addTarget({ path: file, app, location, user: SYSTEM_USER, anchor: path.dirname(file) });
      }
    }
  }
  return plan;
}
