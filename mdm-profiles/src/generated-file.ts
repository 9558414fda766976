// What a generator hands back: a file under the output folder.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface GeneratedFile {
  /** Relative to the output folder, with forward slashes. */
  path: string;
  content: string | Buffer;
  executable?: boolean;
}

export function sha256OfFile(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
