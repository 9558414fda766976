// Project folders, from each app's own record of what it has opened (never by crawling the disk):
// the readers more than one app adapter uses. Only absolute paths are kept (by the plan).
import { fileURLToPath } from 'node:url';
import { isRecord } from './normalize.ts';

/** Keys of `projects` (`~/.claude.json`, Codex's `[projects."<path>"]`). */
export function projectKeys(doc: unknown): string[] {
  return isRecord(doc) && isRecord(doc.projects) ? Object.keys(doc.projects) : [];
}

/** `folder` (a file:// URI) of a `workspaceStorage/<id>/workspace.json` (VS Code, Cursor). */
export function workspaceFolder(doc: unknown): string[] {
  const folder = isRecord(doc) ? doc.folder : undefined;
  if (typeof folder !== 'string' || !folder.startsWith('file://')) return [];
  try {
    return [fileURLToPath(folder)];
  } catch {
    return [];
  }
}
