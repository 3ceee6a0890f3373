import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * Creates `dir` and its missing parents, one level at a time (Node's `mkdir(..., { recursive: true })`
 * never returns under /proc and other special filesystems). Fails with a message naming the
 * directory that cannot be created, or the path that exists and is not a directory.
 */
export async function makeDirectory(dir: string): Promise<void> {
  const target = resolve(dir);
  const missing: string[] = [];
  for (let d = target; ; d = dirname(d)) {
    const s = await stat(d).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)));
    if (s) {
      if (!s.isDirectory()) throw new Error(`cannot create ${target}: ${d} exists and is not a directory`);
      break;
    }
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    await mkdir(d).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw new Error(`cannot create ${d}: ${error.code ?? error.message}`, { cause: error });
    });
  }
}
