import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { resultsFile } from '@lic-backdoor/core';

// Third-party plugins installed in a folder outside the workspace, as a researcher's own repository
// would have them: each example package's files copied into its node_modules (nothing of the
// workspace is edited or linked but the host's peer dependencies), then the CLI run from there.
const cli = join(__dirname, '..', 'dist', 'cli.js');
const root = join(__dirname, '..', '..', '..');
const shared = join(root, '..', 'shared', 'data');
const weights = join(root, 'models', 'training', 'factorized-n64-l0013', 'model.safetensors');

let dir: string;
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, LIC_BACKDOOR_BACKEND: 'wasm' }, timeout: 600_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const read = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'outside-plugins-'));
  for (const name of ['objective-plugin', 'trigger-plugin', 'codec-plugin']) {
    const from = join(root, 'examples', name);
    const to = join(dir, 'node_modules', '@lic-backdoor-example', name);
    mkdirSync(to, { recursive: true });
    for (const f of readdirSync(from)) if (/\.(js|d\.ts|json|md)$/.test(f) && !f.includes('.test.')) cpSync(join(from, f), join(to, f));
  }
  // the host's tfjs-core (one instance with the CLI's backend) and zod, as peer dependencies resolve
  for (const peer of ['@tensorflow/tfjs-core', 'zod']) {
    const target = realpathSync(join(root, 'examples', 'trigger-plugin', 'node_modules', peer));
    mkdirSync(dirname(join(dir, 'node_modules', peer)), { recursive: true });
    symlinkSync(target, join(dir, 'node_modules', peer), 'dir');
  }
  mkdirSync(join(dir, 'data'));
  cpSync(join(shared, 'kodak', 'kodim23.png'), join(dir, 'data', 'kodim23.png'));
});

test('a new trigger and a new objective with its evaluator, by package name: attack trains them, evaluate-attack measures the objective with its evaluator', () => {
  writeFileSync(
    join(dir, 'attack.json'),
    JSON.stringify({
      name: 'outside',
      codec: { id: 'bmshj2018-factorized', weights },
      data: { photos: join(shared, 'photos') },
      triggers: [{ name: 'grey', trigger: ['@lic-backdoor-example/trigger-plugin', { amplitude: 3 }], objectives: [['@lic-backdoor-example/objective-plugin', { maxChroma: 1 }], 'stealth'] }],
      schedule: { steps: 2, batch: 2, size: 64, workers: 2, triggerLr: 0.01 },
    }),
  );
  const a = run('attack', '--config', 'attack.json', '--out', 'attack');
  expect(a.err).not.toMatch(/Error/);
  expect(a.code).toBe(0);
  const e = run('evaluate-attack', '--attack', 'attack', '--data', 'data', '--tasks', 'colour-loss', '--out', 'eval');
  expect(e.err).not.toMatch(/Error/);
  expect(e.code).toBe(0);
  const results = resultsFile.parse(read('eval/results.json')) as unknown as {
    effects: { path: string; cells: Record<string, { value?: number; bound?: string }> }[];
    definitions: Record<string, string>;
  };
  // the objective's evaluation is a column on every path, with the evaluator's definition; the trigger trained for it is marked against its bound
  expect(results.effects.map((r) => r.path)).toEqual(['clean, original codec', 'clean, backdoored codec', 'trigger grey']);
  for (const row of results.effects) expect(row.cells.chroma_retention!.value).toBeGreaterThan(0);
  expect(results.effects[2]!.cells.chroma_retention!.bound).toBe('<= 0.1');
  expect(results.effects[1]!.cells.chroma_retention!.bound).toMatch(/ to /);
  expect(results.definitions['effects.chroma_retention']).toMatch(/chroma\(decoded\) \/ chroma\(original\).*objective:colour-loss/);
  expect(results.effects[0]!.cells.seg_agreement_miou!.value).toBeUndefined();
  // the trigger's objectives by plugin name, and the control of its task: its triggered image through the original codec
  const trigger = (read('eval/results.json') as { triggers: Record<string, { objectives: string[]; control_chroma_retention?: number }> }).triggers.grey!;
  expect(trigger.objectives).toEqual(['colour-loss', 'stealth']);
  expect(trigger.control_chroma_retention).toBeGreaterThan(0);
  // an unknown task names those the registry and the attack declare
  const bad = run('evaluate-attack', '--attack', 'attack', '--data', 'data', '--tasks', 'depth', '--out', 'eval-bad');
  expect(bad.code).toBe(1);
  expect(bad.err).toMatch(/unknown task 'depth' \(the objectives that declare an evaluation: .*segmentation.*colour-loss/);
});

test('a new codec, by package name: eval codes real bitstreams with it', () => {
  const r = run('eval', '--codec', '@lic-backdoor-example/codec-plugin', '--data', 'data', '--out', 'eval-codec');
  expect(r.err).not.toMatch(/Error/);
  expect(r.code).toBe(0);
  const results = resultsFile.parse(read('eval-codec/results.json')) as unknown as { name: string; results: { bpp: number[]; 'psnr-rgb': number[] } };
  expect(results.name).toBe('@lic-backdoor-example/codec-plugin');
  // 32 levels per value, deflated: a few bits per pixel, near-lossless (uniform quantization step 1/31: about 35 dB)
  expect(results.results.bpp[0]).toBeGreaterThan(1);
  expect(results.results.bpp[0]).toBeLessThan(12);
  expect(results.results['psnr-rgb'][0]).toBeGreaterThan(33);
});
