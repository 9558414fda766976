// Project folders, from each app's own record of what it has opened (never by crawling the disk).
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { ProjectSourceKind } from './locations.ts';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Project folders named by one parsed source document. Only absolute paths are kept. */
export function projectsFromSource(kind: ProjectSourceKind, doc: unknown): string[] {
  if (!isRecord(doc)) return [];
  let out: string[] = [];
  switch (kind) {
    case 'claude-projects':
    case 'codex-projects':
      out = isRecord(doc.projects) ? Object.keys(doc.projects) : [];
      break;
    case 'gemini-trusted-folders':
      out = Object.entries(doc)
        .filter(([, v]) => v !== 'DO_NOT_TRUST')
        .map(([k]) => k);
      break;
    case 'workspace-storage': {
      const folder = doc.folder;
      if (typeof folder === 'string' && folder.startsWith('file://')) {
        try {
          out = [fileURLToPath(folder)];
        } catch {
          out = [];
        }
      }
      break;
    }
  }
  return out.filter((p) => path.isAbsolute(p));
}
