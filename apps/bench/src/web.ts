import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const WEB = join(root, 'apps/web');
export const KODIM23 = resolve(root, '../shared/data/kodak/kodim23.png');

export interface WebBenchOptions {
  image: string;
  /** The page's codec choice, e.g. `codec:mbt-n128-l0013` or `backdoor:mbt-4triggers-ft6`. */
  codec: string;
  reps: number;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
    s.on('error', fail);
  });
}

/**
 * The built page (`vite preview` of apps/web/dist, cross-origin isolated) in headless Chromium: the
 * image picked, then `reps` + 1 runs of the codec's clean path; encode and decode seconds of each
 * (the page's own timing: compress, then the stock decoder's decompress, after the warm-up on load).
 */
export async function benchWeb(o: WebBenchOptions, log: (line: string) => void) {
  if (!existsSync(join(WEB, 'dist/index.html'))) throw new Error('apps/web/dist is missing: pnpm --filter web build');
  const port = await freePort();
  const preview = spawn(process.execPath, [join(WEB, 'node_modules/vite/bin/vite.js'), 'preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], { cwd: WEB, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/`;
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    for (let i = 0; ; i++) {
      if (await fetch(url).then((r) => r.ok, () => false)) break;
      if (i > 100) throw new Error(`vite preview did not answer on ${url}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForSelector('body[data-state=ready]', { timeout: 60000 });
    const engine = await page.textContent('#engine');
    await page.setInputFiles('#file', o.image);
    await page.waitForFunction("!document.getElementById('run').disabled");
    await page.selectOption('#codec', o.codec);
    const runs: { encodeSeconds: number; decodeSeconds: number; wallSeconds: number }[] = [];
    for (let rep = 0; rep <= o.reps; rep++) {
      const t = performance.now();
      await page.click('#run');
      await page.waitForSelector('body[data-state=done], #error:not([hidden])', { timeout: 600000 });
      if (!(await page.isHidden('#error'))) throw new Error(`the page failed: ${await page.textContent('#error')}`);
      const { paths } = JSON.parse((await page.textContent('#results-json')) ?? '{}') as { paths: { encodeSeconds: number; decodeSeconds: number }[] };
      const { encodeSeconds, decodeSeconds } = paths[0]!;
      runs.push({ encodeSeconds, decodeSeconds, wallSeconds: (performance.now() - t) / 1000 });
      log(`web: run ${rep}${rep === 0 ? ' (first, includes loading the weights)' : ''}: encode ${encodeSeconds.toFixed(2)} s, decode ${decodeSeconds.toFixed(2)} s, wall ${runs.at(-1)!.wallSeconds.toFixed(2)} s`);
    }
    const timed = runs.slice(1);
    return {
      image: o.image,
      codec: o.codec,
      engine,
      first: runs[0],
      median: { encodeSeconds: median(timed.map((r) => r.encodeSeconds)), decodeSeconds: median(timed.map((r) => r.decodeSeconds)), totalSeconds: median(timed.map((r) => r.encodeSeconds + r.decodeSeconds)) },
      runs,
    };
  } finally {
    await browser.close();
    preview.kill();
  }
}
