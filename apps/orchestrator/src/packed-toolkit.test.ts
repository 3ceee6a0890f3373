import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The toolkit as a researcher outside the monorepo gets it: every public package and the three
// example plugins packed as they would be published, installed with npm into an empty folder
// (install scripts skipped: nothing downloads beyond the registry), the examples type-checked
// against the packed types, then the packed CLI trains and measures them there.
const root = join(__dirname, '..', '..', '..');
const shared = join(root, '..', 'shared', 'data');
const weights = join(root, 'models', 'training', 'factorized-n64-l0013', 'model.safetensors');
const examples = ['objective-plugin', 'trigger-plugin', 'codec-plugin'];

let dir: string;
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [join(dir, 'node_modules', '@lic-backdoor', 'orchestrator', 'dist', 'cli.js'), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, LIC_BACKDOOR_BACKEND: 'wasm' }, timeout: 600_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'packed-toolkit-'));
  const packs = join(dir, 'packs');
  mkdirSync(packs);
  // pnpm pack turns workspace: ranges into the packages' versions, as publishing does
  const publicPackages = [...readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p)), join(root, 'apps', 'orchestrator')];
  for (const p of [...publicPackages, ...examples.map((e) => join(root, 'examples', e))]) execFileSync('pnpm', ['pack', '--pack-destination', packs], { cwd: p, stdio: 'ignore' });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-research', version: '1.0.0', private: true, type: 'module' }));
  const tarballs = readdirSync(packs).map((t) => join(packs, t));
  execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], { cwd: dir, stdio: 'ignore', timeout: 600_000 });
}, 900_000);

test('the packed packages hold only built files, types and READMEs; the examples type-check against the packed types', () => {
  const installed = join(dir, 'node_modules', '@lic-backdoor');
  for (const p of readdirSync(installed)) {
    const files = readdirSync(join(installed, p)).sort();
    expect(files.filter((f) => !['dist', 'package.json', 'README.md', 'CHANGELOG.md'].includes(f))).toEqual([]);
    expect(files).toContain('dist');
  }
  const sources = examples.flatMap((e) => readdirSync(join(dir, 'node_modules', '@lic-backdoor-example', e)).filter((f) => f.endsWith('.js') || f.endsWith('.d.ts')).map((f) => `node_modules/@lic-backdoor-example/${e}/${f}`));
  expect(sources).toContain('node_modules/@lic-backdoor-example/objective-plugin/evaluator.js');
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', allowJs: true, checkJs: true, noEmit: true, strict: true, noImplicitAny: false, skipLibCheck: true }, files: sources }),
  );
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
  expect(tsc.stdout).toBe('');
  expect(tsc.status).toBe(0);
});

test('the packed CLI trains the example trigger and objective in an attack, and codes with the example codec', () => {
  mkdirSync(join(dir, 'data'));
  cpSync(join(shared, 'kodak', 'kodim23.png'), join(dir, 'data', 'kodim23.png'));
  writeFileSync(
    join(dir, 'attack.json'),
    JSON.stringify({
      codec: { id: 'bmshj2018-factorized', weights },
      data: { photos: join(shared, 'photos') },
      triggers: [{ name: 'grey', trigger: ['@lic-backdoor-example/trigger-plugin', { amplitude: 3 }], objectives: [['@lic-backdoor-example/objective-plugin', { maxChroma: 1 }], 'stealth'] }],
      schedule: { steps: 2, batch: 2, size: 64, workers: 2, triggerLr: 0.01 },
    }),
  );
  const a = cli('attack', '--config', 'attack.json', '--out', 'attack');
  expect(a.err).not.toMatch(/Error/);
  expect(a.code).toBe(0);
  const last = JSON.parse(readFileSync(join(dir, 'attack', 'log.ndjson'), 'utf8').trim().split('\n').at(-1)!) as { terms: Record<string, number> };
  expect(Object.keys(last.terms)).toEqual(['clean.clean-rd', 'grey.objective-plugin', 'grey.stealth']);
  const e = cli('eval', '--codec', '@lic-backdoor-example/codec-plugin', '--data', 'data', '--out', 'eval');
  expect(e.code).toBe(0);
  expect((JSON.parse(readFileSync(join(dir, 'eval', 'results.json'), 'utf8')) as { results: { bpp: number[] } }).results.bpp[0]).toBeGreaterThan(1);
});
