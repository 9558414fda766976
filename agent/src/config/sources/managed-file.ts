// The managed JSON file (/etc/heimdall/config.json and its macOS/Windows equivalents).
import { open } from 'node:fs/promises';
import { isPlainObject, MAX_CONFIG_FILE_BYTES, type ConfigSource, type SourceRead } from './source.ts';

export async function readBoundedFile(file: string): Promise<{ status: 'absent' } | { status: 'unreadable'; reason: string } | { status: 'ok'; data: Buffer }> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'absent' };
    return { status: 'unreadable', reason: `cannot open it (${code ?? (err as Error).message})` };
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return { status: 'unreadable', reason: 'it is not a regular file' };
    if (st.size > MAX_CONFIG_FILE_BYTES) return { status: 'unreadable', reason: `it is ${st.size} bytes, over the ${MAX_CONFIG_FILE_BYTES}-byte limit for a config file` };
    return { status: 'ok', data: await handle.readFile() };
  } catch (err) {
    return { status: 'unreadable', reason: `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  } finally {
    await handle.close();
  }
}

export function parseManagedJson(text: string): SourceRead {
  if (text.trim() === '') return { status: 'unreadable', reason: 'the file is empty (an empty file is not read as "no settings"; delete it instead)' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { status: 'unreadable', reason: `it is not valid JSON: ${(err as Error).message}` };
  }
  if (!isPlainObject(parsed)) return { status: 'unreadable', reason: 'its top level must be a JSON object of settings' };
  return { status: 'ok', values: parsed };
}

/** Reads and parses a managed file: absent, unreadable (with why), or its raw settings. */
export async function readManagedFile(file: string): Promise<SourceRead> {
  const read = await readBoundedFile(file);
  if (read.status !== 'ok') return read;
  return parseManagedJson(read.data.toString('utf8').replace(/^\uFEFF/, ''));
}

export function managedFileSource(file: string): ConfigSource {
  return {
    name: file,
    flavor: 'typed',
    watchPaths: [file],
    pollIntervalMs: 0,
    read: () => readManagedFile(file),
  };
}
