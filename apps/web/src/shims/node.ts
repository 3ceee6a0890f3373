// What the page's bundle sees instead of Node's modules (vite.config.ts aliases them here). The
// toolkit's packages import them for files, processes and the CLI's image I/O, none of which the
// page calls: the page hands the codecs bytes it fetched or the user dropped. Each function throws
// if anything calls it, so a missed path fails loudly instead of silently.
function unavailable(name: string): never {
  throw new Error(`${name} is not available in the browser (the page passes bytes, never file paths)`);
}
const stub =
  (name: string) =>
  (..._args: unknown[]): never =>
    unavailable(name);

// node:fs, node:fs/promises
export const access = stub('fs.access');
export const mkdir = stub('fs.mkdir');
export const mkdtemp = stub('fs.mkdtemp');
export const open = stub('fs.open');
export const readFile = stub('fs.readFile');
export const readdir = stub('fs.readdir');
export const rename = stub('fs.rename');
export const rm = stub('fs.rm');
export const stat = stub('fs.stat');
export const writeFile = stub('fs.writeFile');
export const existsSync = (): boolean => false;
export const constants = { R_OK: 4, W_OK: 2, F_OK: 0 };
// node:os
export const homedir = (): string => '/';
export const tmpdir = (): string => '/tmp';
// node:child_process, node:util, node:module
export const execFile = stub('child_process.execFile');
export const promisify = (f: unknown) => f;
export const createRequire = stub('module.createRequire');
// sharp (the CLI's image decoder and the JPEG/WebP baselines)
export default stub('sharp');
