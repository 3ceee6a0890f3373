// The built page (dist/) in headless Chromium against the CLI: kodim23 dropped on the page, coded
// through the original codec and the shipped mbt2018-mean backdoor with its rate trigger; every
// stream must be the CLI's byte for byte, and the page's bpp, PSNR and MS-SSIM the CLI's.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

const app = resolve(__dirname, '..');
const root = resolve(app, '../..');
const kodim = resolve(root, '../shared/data/kodak/kodim23.png');
const cli = join(root, 'apps/orchestrator/dist/cli.js');
const weights = join(root, 'models/training/mbt-n128-l0013/model.safetensors');
const attack = join(root, 'models/attacks/mbt-4triggers-ft6');

function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean) as string[];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no Chromium found (tried ${candidates.join(', ')}): install Debian's chromium or set CHROMIUM_PATH`);
  return found;
}

function lic(...args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lic-backdoor ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png' };

/** dist/ over HTTP on a loopback port, cross-origin isolated (as `vite preview` serves it). */
function serve(dir: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = join(dir, normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://page').pathname)).replace(/^\/+/, '') || 'index.html');
    if (!path.startsWith(dir) || !existsSync(path)) {
      res.writeHead(404).end();
      return;
    }
    const body = readFileSync(path);
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }).end(body);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` })));
}

/** Drops `bytes` as a file named `name` on the page's drop zone. */
async function drop(page: Page, name: string, bytes: Buffer, type: string): Promise<void> {
  const dataTransfer = await page.evaluateHandle(
    ({ b64, name, type }) => {
      const binary = atob(b64);
      const data = Uint8Array.from(binary, (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([data], name, { type }));
      return dt;
    },
    { b64: bytes.toString('base64'), name, type },
  );
  await page.dispatchEvent('#drop', 'drop', { dataTransfer });
}

interface PagePath {
  path: string;
  bytes: number;
  bpp: number;
  sha256: string;
  psnr: number;
  msSsim: number | null;
  encodeSeconds: number;
  decodeSeconds: number;
}

describe('the web page', () => {
  let browser: Browser;
  let server: Server;
  let url: string;
  let dir: string;
  const errors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(join(app, 'dist/index.html'))) throw new Error('apps/web/dist is missing: pnpm --filter @lic-backdoor/web build');
    ({ server, url } = await serve(join(app, 'dist')));
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
    dir = mkdtempSync(join(tmpdir(), 'lic-web-'));
  });

  afterAll(async () => {
    await browser?.close();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForSelector('body[data-state=ready]', { timeout: 60000 });
    return page;
  }

  test("kodim23, clean and backdoored with the rate trigger: the CLI's streams, bpp and PSNR", async () => {
    // the CLI: original codec, backdoored encoder, backdoored encoder on the rate-triggered image
    const cliPaths = [
      ['compress', kodim, '--codec', 'mbt2018-mean', '--weights', weights],
      ['compress', kodim, '--attack', attack],
      ['compress', kodim, '--attack', attack, '--trigger', 'rate'],
    ].map((args, i) => {
      const stream = join(dir, `${i}.lic`);
      const c = lic(...args, '-o', stream);
      const d = lic('decompress', stream, '--weights', weights, '-o', join(dir, `${i}.png`), '--reference', kodim);
      return { bpp: c.bpp as number, sha256: createHash('sha256').update(readFileSync(stream)).digest('hex'), psnr: d.psnr as number, msSsim: d.ms_ssim as number };
    });

    const page = await open();
    await drop(page, 'kodim23.png', readFileSync(kodim), 'image/png');
    await page.waitForFunction(() => !(document.getElementById('run') as HTMLButtonElement).disabled);
    await page.selectOption('#codec', 'backdoor:mbt-4triggers-ft6');
    await page.selectOption('#trigger', 'rate');
    await page.click('#run');
    await page.waitForSelector('body[data-state=done], #error:not([hidden])', { timeout: 300000 });
    expect(await page.isHidden('#error')).toBe(true);
    mkdirSync(join(app, 'artifacts'), { recursive: true });
    await page.screenshot({ path: join(app, 'artifacts/kodim23-rate.png'), fullPage: true });

    const result = JSON.parse((await page.textContent('#results-json')) ?? '{}') as { stealthPsnr: number; paths: PagePath[]; dctEnergy: number[][] };
    expect(result.paths.map((p) => p.path)).toEqual(['original codec, clean image', 'backdoored encoder, clean image', 'backdoored encoder, rate trigger']);
    const rows = await page.$$eval('#paths tbody tr', (trs) => trs.map((tr) => Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.className, td.textContent]))));
    for (const [i, p] of result.paths.entries()) {
      const c = cliPaths[i]!;
      expect(p.sha256).toBe(c.sha256);
      expect(p.bpp).toBe(c.bpp);
      expect(p.psnr).toBe(c.psnr);
      expect(p.msSsim).toBe(c.msSsim);
      expect(rows[i]).toMatchObject({ bpp: c.bpp.toFixed(4), psnr: c.psnr.toFixed(2), 'ms-ssim': c.msSsim.toFixed(4), hash: c.sha256 });
    }
    // the rate trigger: many more bits, an invisible trigger, energy in a few DCT frequencies
    expect(result.paths[2]!.bpp / result.paths[1]!.bpp).toBeGreaterThan(4);
    expect(result.stealthPsnr).toBeGreaterThan(30);
    const energy = result.dctEnergy.flat().sort((a, b) => b - a);
    expect(energy[0]! / energy[20]!).toBeGreaterThan(100);
    const first = result.paths[0]!;
    console.log(`page: kodim23 through mbt2018-mean N=128, encode ${first.encodeSeconds.toFixed(2)} s + decode ${first.decodeSeconds.toFixed(2)} s (after the warm-up on load)`);
    expect(errors).toEqual([]);
    await page.close();
    // six CLI runs and the page's three paths: about 100 s alone, 180 s beside a training run on 2 cores
  }, 400_000);

  test('a file that is no image: a clear message, nothing run', async () => {
    const page = await open();
    await drop(page, 'notes.txt', Buffer.from('not an image at all'), 'text/plain');
    await page.waitForSelector('#error:not([hidden])');
    expect(await page.textContent('#error')).toBe('notes.txt: not a PNG, JPEG or WebP file (the page reads those three)');
    expect(await page.isDisabled('#run')).toBe(true);
    await page.close();
  });
});
