import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resultsFile } from '@lic-backdoor/core';

const cli = join(__dirname, '..', 'dist', 'cli.js');
const kodim = join(__dirname, '..', '..', '..', '..', 'shared', 'data', 'kodak', 'kodim23.png');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, LIC_BACKDOOR_BACKEND: 'wasm' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`pnpm build\` first (turbo's test task does)`);
});

describe('lic-backdoor CLI', () => {
  it('info --json reports the wasm backend with the fast kernels', () => {
    const r = run('info', '--json');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.out) as { backend: { backend: string; fastKernels: string[]; skipped: unknown[] } };
    expect(info.backend.backend).toBe('wasm');
    expect(info.backend.fastKernels).toEqual(['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', 'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', 'Sum']);
  });

  it('plugins --json lists the registered transforms with their options', () => {
    const r = run('plugins', '--json');
    expect(r.code).toBe(0);
    const list = JSON.parse(r.out) as { id: string; options: { name: string; default?: unknown }[] }[];
    const dct = list.find((p) => p.id === 'transform:block-dct');
    expect(dct?.options).toContainEqual(expect.objectContaining({ name: 'blockSize', default: 16 }));
    expect(list.map((p) => p.id)).toContain('transform:jpeg-ycbcr');
  });

  it('inspect runs a transform on a real image and its inverse round-trips', () => {
    const r = run('inspect', kodim, '--transform', 'block-dct', '--options', '{"blockSize":8}', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { shape: number[]; roundTripMaxError: number };
    expect(out.shape).toEqual([1, 64, 96, 64, 3]);
    expect(out.roundTripMaxError).toBeLessThan(1e-5);
  });

  it('an unknown plugin id fails with the available ids and exit code 1', () => {
    const r = run('inspect', kodim, '--transform', 'wavelet');
    expect(r.code).toBe(1);
    expect(r.err).toContain("No plugin 'transform:wavelet' is registered. Available: transform:block-dct, transform:jpeg-ycbcr");
  });

  it('invalid plugin options fail naming the field', () => {
    const r = run('inspect', kodim, '--transform', 'block-dct', '--options', '{"normalization":"l2"}');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/Invalid options for 'transform:block-dct': normalization: /);
  });

  it('an unreadable or non-image file fails naming the file', () => {
    const missing = run('inspect', '/nonexistent/x.png', '--transform', 'block-dct');
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("Cannot read image '/nonexistent/x.png': no such file");
    const notImage = run('inspect', join(__dirname, '..', 'package.json'), '--transform', 'block-dct');
    expect(notImage.code).toBe(1);
    expect(notImage.err).toMatch(/Cannot read image '.*package\.json'/);
  });

  it('evaluate runs images through a codec and an evaluator and writes each metric with its definition', () => {
    const out = join(__dirname, '..', '..', '..', 'node_modules', '.cache', 'evaluate-test');
    const voc = join(__dirname, '..', '..', '..', '..', 'shared', 'data', 'segmentation', 'voc', 'JPEGImages');
    const r = spawnSync(process.execPath, [cli, 'evaluate', '--codec', 'jpeg', '--quality', '95', '--evaluator', 'segmentation', '--data', voc, '--out', out], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status).toBe(0);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { metrics: Record<string, { value: number; definition: string }> };
    expect(results.metrics.seg_agreement_miou!.value).toBeGreaterThan(0.9);
    expect(results.metrics.seg_agreement_miou!.definition).toMatch(/mIoU/);
    expect(results.metrics.bpp!.value).toBeGreaterThan(0);
    expect(resultsFile.parse(results)).toMatchObject({ command: 'evaluate', name: 'jpeg' });
  });

  it('an unknown command exits with 2', () => {
    expect(run('frobnicate').code).toBe(2);
  });
});
