import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors, resultsFile, serializeSafetensors } from '@lic-backdoor/core';
import { readBitstream, writeBitstream } from '@lic-backdoor/entropy';

const cli = join(__dirname, '..', 'dist', 'cli.js');
const shared = join(__dirname, '..', '..', '..', '..', 'shared', 'data');
const photos = join(shared, 'photos');
const kodim = join(shared, 'kodak', 'kodim23.png');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, LIC_BACKDOOR_BACKEND: 'wasm' }, timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const tiny = ['--model', 'bmshj2018-factorized', '--lambda', '0.01', '--data', photos, '--N', '8', '--M', '8', '--batch', '2', '--size', '64', '--workers', '2', '--checkpoint-every', '2', '--seed', '3'];

function losses(dir: string): number[] {
  return readFileSync(join(dir, 'log.ndjson'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
}

describe('train-codec', () => {
  let full: string;

  beforeAll(() => {
    full = mkdtempSync(join(tmpdir(), 'tc-full-'));
    const r = run('train-codec', ...tiny, '--steps', '4', '--out', full);
    if (r.code !== 0) throw new Error(r.err);
  });

  it('writes config (with git commit and backend), an NDJSON log, a checkpoint and model.safetensors', () => {
    const config = JSON.parse(readFileSync(join(full, 'config.json'), 'utf8')) as { environment: { gitCommit: string; backend: { backend: string } }; config: { seed: number } };
    expect(config.environment.backend.backend).toBe('wasm');
    expect(config.environment.gitCommit).toMatch(/^([0-9a-f]{40}|unknown)$/);
    expect(config.config.seed).toBe(3);
    expect(losses(full)).toHaveLength(4);
    expect(existsSync(join(full, 'checkpoint.safetensors'))).toBe(true);
    expect(existsSync(join(full, 'model.safetensors'))).toBe(true);
  });

  it('trains the codec plugins that declare training, and names them when asked for another', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-model-'));
    const swap = (model: string) => tiny.map((a, i) => (tiny[i - 1] === '--model' ? model : a));
    for (const model of ['jpeg', 'no-such-codec']) {
      const r = run('train-codec', ...swap(model), '--steps', '1', '--out', dir);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/Trainable codecs: bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean/);
    }
    expect(run('train-codec', ...swap('jpeg'), '--steps', '1', '--out', dir).err).toMatch(/codec 'jpeg' declares no training module/);
  });

  it('a run stopped after 2 steps and resumed gives exactly the losses of an uninterrupted run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-resume-'));
    expect(run('train-codec', ...tiny, '--steps', '2', '--out', dir).code).toBe(0);
    const again = run('train-codec', ...tiny, '--steps', '4', '--out', dir);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/exists: pass --resume/);
    const resumed = run('train-codec', ...tiny, '--steps', '4', '--out', dir, '--resume');
    expect(resumed.code).toBe(0);
    expect(losses(dir)).toEqual(losses(full));
    // the log holds each step once, also after a resume
    expect(losses(dir)).toHaveLength(4);
  });

  it('--init-weights starts from saved weights: on the same batch the first loss differs from a fresh start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-init-'));
    const r = run('train-codec', ...tiny, '--steps', '1', '--out', dir, '--init-weights', join(full, 'model.safetensors'));
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/starting from the weights of/);
    const fresh = mkdtempSync(join(tmpdir(), 'tc-fresh-'));
    expect(run('train-codec', ...tiny, '--steps', '1', '--out', fresh).code).toBe(0);
    // same batch, different starting weights: the losses differ
    expect(losses(dir)[0]).not.toBe(losses(fresh)[0]);
  });

  it('--init-weights F --init-partial warm-starts mbt2018-mean from a factorized model; without it the misfit is an error', () => {
    const args = tiny.map((a) => (a === 'bmshj2018-factorized' ? 'mbt2018-mean' : a));
    const strict = run('train-codec', ...args, '--steps', '1', '--out', mkdtempSync(join(tmpdir(), 'tc-strict-')), '--init-weights', join(full, 'model.safetensors'));
    expect(strict.code).toBe(1);
    expect(strict.err).toMatch(/does not fit mbt2018-mean/);
    const r = run('train-codec', ...args, '--steps', '1', '--out', mkdtempSync(join(tmpdir(), 'tc-partial-')), '--init-weights', join(full, 'model.safetensors'), '--init-partial');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/initialised \d+ tensors from .*: g_a, g_s.*; kept the initialisation of h_a, h_s/);
  });

  it('compress and decompress through files: the decoder reads only the file and the weights', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-codec-'));
    const weights = join(full, 'model.safetensors');
    const c = run('compress', kodim, '--codec', 'bmshj2018-factorized', '--weights', weights, '-o', join(dir, 'k.lic'));
    expect(c.code).toBe(0);
    const info = JSON.parse(c.out) as { bytes: number; bpp: number; bpp_estimated: number };
    expect(info.bytes).toBe(readFileSync(join(dir, 'k.lic')).length);
    const d = run('decompress', join(dir, 'k.lic'), '--weights', weights, '-o', join(dir, 'k.png'));
    expect(d.code).toBe(0);
    expect(JSON.parse(d.out)).toMatchObject({ codec: 'codec:bmshj2018-factorized', height: 512, width: 768 });
    const bad = readFileSync(join(dir, 'k.lic'));
    bad[100]! ^= 0x10;
    writeFileSync(join(dir, 'bad.lic'), bad);
    const e = run('decompress', join(dir, 'bad.lic'), '--weights', weights, '-o', join(dir, 'bad.png'));
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/CRC mismatch/);
    expect(existsSync(join(dir, 'bad.png'))).toBe(false);
  });

  it('an output that cannot be written fails at once with exit 1, naming it, and leaves no file behind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-output-'));
    const weights = join(full, 'model.safetensors');
    expect(run('compress', kodim, '--codec', 'bmshj2018-factorized', '--weights', weights, '-o', join(dir, 'k.lic')).code).toBe(0);
    // Node's recursive mkdir never returns under /proc
    const proc = run('decompress', join(dir, 'k.lic'), '--weights', weights, '-o', '/proc/nope/x.png');
    expect(proc.code).toBe(1);
    expect(proc.err).toMatch(/cannot create \/proc\/nope/);
    // -o naming a directory: the temporary file is removed
    mkdirSync(join(dir, 'taken.png'));
    const taken = run('decompress', join(dir, 'k.lic'), '--weights', weights, '-o', join(dir, 'taken.png'));
    expect(taken.code).toBe(1);
    expect(taken.err).toMatch(/taken\.png/);
    const bitstream = run('compress', kodim, '--codec', 'bmshj2018-factorized', '--weights', weights, '-o', join(dir, 'taken.png'));
    expect(bitstream.code).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['k.lic', 'taken.png']);
  });

  it('compress with weights holding NaN, 1e30 or an integer-typed parameter exits 1 naming the tensor, and writes no stream', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-badweights-'));
    const cases: [string, (t: ReturnType<typeof parseSafetensors>['tensors']) => void, RegExp][] = [
      ['nan', (t) => void (t['g_a.0.weight']!.data[0] = NaN), /'g_a\.0\.weight' holds NaN/],
      ['huge', (t) => void (t['g_s.0.weight']!.data[1] = 1e30), /'g_s\.0\.weight' holds 1e\+30 at index 1/],
      ['int', (t) => void (t['g_a.0.bias'] = { dtype: 'I32', shape: t['g_a.0.bias']!.shape, data: Int32Array.from(t['g_a.0.bias']!.data, Math.round) }), /'g_a\.0\.bias' is I32/],
    ];
    for (const [name, change, message] of cases) {
      const copy = parseSafetensors(readFileSync(join(full, 'model.safetensors')));
      change(copy.tensors);
      writeFileSync(join(dir, `${name}.safetensors`), serializeSafetensors(copy.tensors, copy.metadata));
      const r = run('compress', kodim, '--codec', 'bmshj2018-factorized', '--weights', join(dir, `${name}.safetensors`), '-o', join(dir, `${name}.lic`));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/WeightsError/);
      expect(r.err).toMatch(message);
      expect(existsSync(join(dir, `${name}.lic`))).toBe(false);
    }
  });

  it('a tiny stream whose header claims a huge image is refused at once, naming the limit; --max-megapixels moves it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-huge-'));
    const weights = join(full, 'model.safetensors');
    expect(run('compress', kodim, '--codec', 'bmshj2018-factorized', '--weights', weights, '-o', join(dir, 'k.lic')).code).toBe(0);
    const b = readBitstream(new Uint8Array(readFileSync(join(dir, 'k.lic'))));
    // the CRC recomputed: only the size check stands between the file and gigabytes of tables
    writeFileSync(join(dir, 'huge.lic'), writeBitstream({ ...b, height: 60000, width: 60000 }));
    const huge = run('decompress', join(dir, 'huge.lic'), '--weights', weights, '-o', join(dir, 'huge.png'));
    expect(huge.code).toBe(1);
    expect(huge.err).toMatch(/claims 60000 x 60000 pixels \(3600\.0 megapixels\), above this decoder's limit of 64/);
    expect(existsSync(join(dir, 'huge.png'))).toBe(false);
    // Kodak's 0.39 megapixels are refused under a limit of 0.3, decoded under the default
    expect(run('decompress', join(dir, 'k.lic'), '--weights', weights, '--max-megapixels', '0.3', '-o', join(dir, 'k.png')).err).toMatch(/limit of 0\.3/);
    expect(run('decompress', join(dir, 'k.lic'), '--weights', weights, '-o', join(dir, 'k.png')).code).toBe(0);
  });

  it('update-weights builds the CDF tables into weights without them; --half stores F16 at about half the size and still codes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-update-'));
    // The trainer's file with its CDF tables emptied, as a file from PyTorch arrives.
    const stripped = parseSafetensors(readFileSync(join(full, 'model.safetensors')));
    const tensors = Object.fromEntries(Object.entries(stripped.tensors).map(([k, t]) => [k, /\._(offset|quantized_cdf|cdf_length)$/.test(k) ? { shape: [0], data: new Int32Array(0) } : t]));
    writeFileSync(join(dir, 'bare.safetensors'), serializeSafetensors(tensors, stripped.metadata));
    const u = run('update-weights', '--codec', 'bmshj2018-factorized', '--weights', join(dir, 'bare.safetensors'), '-o', join(dir, 'full.safetensors'));
    expect(u.code).toBe(0);
    const rebuilt = parseSafetensors(readFileSync(join(dir, 'full.safetensors')));
    for (const k of ['_offset', '_quantized_cdf', '_cdf_length']) {
      expect([...rebuilt.tensors[`entropy_bottleneck.${k}`]!.data]).toEqual([...stripped.tensors[`entropy_bottleneck.${k}`]!.data]);
    }
    expect(stripped.tensors['entropy_bottleneck._quantized_cdf']!.shape[0]).toBe(8);
    const h = run('update-weights', '--codec', 'bmshj2018-factorized', '--weights', join(dir, 'bare.safetensors'), '-o', join(dir, 'half.safetensors'), '--half');
    expect(h.code).toBe(0);
    const half = parseSafetensors(readFileSync(join(dir, 'half.safetensors')));
    expect(half.tensors['g_s.0.weight']!.dtype).toBe('F16');
    expect(half.tensors['entropy_bottleneck._quantized_cdf']!.dtype).toBe('I32');
    // buffers stay F32: float16 would flush the GDN pedestal (2^-36) to 0
    expect(half.tensors['g_s.1.beta_reparam.pedestal']!.dtype).toBe('F32');
    expect([...half.tensors['g_s.1.beta_reparam.pedestal']!.data]).toEqual([2 ** -36]);
    expect(half.tensors['entropy_bottleneck.quantiles']!.dtype).toBe('F16');
    expect(half.metadata.dtype).toBe('float16');
    const g = stripped.tensors['g_s.0.weight']!.data;
    const gh = half.tensors['g_s.0.weight']!.data;
    expect(Math.max(...[...g].map((v, i) => Math.abs(v - gh[i]!) / Math.max(Math.abs(v), 2 ** -14)))).toBeLessThanOrEqual(2 ** -11);
    expect(JSON.parse(h.out).bytes).toBeLessThan(0.6 * readFileSync(join(dir, 'full.safetensors')).length);
    const c = run('compress', kodim, '--codec', 'bmshj2018-factorized', '--weights', join(dir, 'half.safetensors'), '-o', join(dir, 'k.lic'));
    expect(c.code).toBe(0);
    expect(run('decompress', join(dir, 'k.lic'), '--weights', join(dir, 'half.safetensors'), '-o', join(dir, 'k.png')).code).toBe(0);
    const f32 = run('decompress', join(dir, 'k.lic'), '--weights', join(dir, 'full.safetensors'), '-o', join(dir, 'k32.png'));
    expect(f32.code).toBe(1); // other decoder weights: the header's hash refuses them
    expect(f32.err).toMatch(/weights/i);
  });

  // the decoder graph (integer g_s: MatMulInteger, com.microsoft MatMulIntegerToFloat) is beyond the tfjs import; cross-decode below checks it bit for bit
  it('export-onnx writes analysis and decoder graphs; onnx check finds the analysis equal to the tfjs import', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-onnx-'));
    expect(run('export-onnx', '--codec', 'bmshj2018-factorized', '--weights', join(full, 'model.safetensors'), '--out', dir).code).toBe(0);
    expect(readFileSync(join(dir, 'decoder.onnx')).length).toBeGreaterThan(1000);
    for (const [file, size] of [['analysis.onnx', '64x64']] as const) {
      const r = run('onnx', 'check', join(dir, file), '--size', size);
      expect(r.code).toBe(0);
      const last = JSON.parse(r.out.trim().split('\n').pop()!) as { maxRelDiff: number; executionProvider: string };
      expect(last.maxRelDiff).toBeLessThanOrEqual(1e-4);
      expect(last.executionProvider).toBe('cpu');
    }
  });

  it('cross-decode: streams of the tfjs and the onnxruntime path decode through both to the identical 8-bit image', () => {
    const data = mkdtempSync(join(tmpdir(), 'tc-cross-'));
    writeFileSync(join(data, 'a.png'), readFileSync(kodim));
    const r = run('cross-decode', '--codec', 'bmshj2018-factorized', '--weights', join(full, 'model.safetensors'), '--data', data, '--out', join(data, 'cross.json'));
    expect(r.code).toBe(0);
    const last = JSON.parse(r.out.trim().split('\n').pop()!) as { images: number; sameBytes: number; identical: number; differingValues: number };
    expect(last.images).toBe(1);
    expect(last.sameBytes).toBe(1);
    expect(last.identical).toBe(1);
    expect(last.differingValues).toBe(0);
    expect(JSON.parse(readFileSync(join(data, 'cross.json'), 'utf8')).per_image).toHaveLength(1);
  });

  it('mbt2018-mean (the committed N=128 codec): compress in either runtime, decompress in onnxruntime and in tfjs to the identical PNG', async () => {
    const weights = join(__dirname, '..', '..', '..', 'models', 'training', 'mbt-n128-l0013', 'model.safetensors');
    const dir = mkdtempSync(join(tmpdir(), 'tc-mbt-'));
    const sharp = (await import('sharp')).default;
    for (const [name, left, top] of [['kodim05', 200, 100], ['kodim23', 420, 260]] as const) {
      const crop = join(dir, `${name}.png`);
      await sharp(join(shared, 'kodak', `${name}.png`)).extract({ left, top, width: 200, height: 150 }).toFile(crop);
      for (const runtime of ['onnx', 'tfjs']) {
        const stream = join(dir, `${name}.${runtime}.lic`);
        expect(run('compress', crop, '--codec', 'mbt2018-mean', '--weights', weights, '--runtime', runtime, '-o', stream).code).toBe(0);
        const decoded = ['onnx', 'tfjs'].map((r) => {
          const png = join(dir, `${name}.${runtime}.by-${r}.png`);
          expect(run('decompress', stream, '--weights', weights, '--runtime', r, '-o', png).code).toBe(0);
          return readFileSync(png);
        });
        expect(decoded[0]!.length).toBeGreaterThan(10_000);
        expect(decoded[0]!.equals(decoded[1]!)).toBe(true);
      }
    }
  });

  it('evaluate-attack refuses an image above --max-megapixels before any work, naming the limit and the option', async () => {
    const data = mkdtempSync(join(tmpdir(), 'tc-big-'));
    const sharp = (await import('sharp')).default;
    await sharp({ create: { width: 2500, height: 1000, channels: 3, background: { r: 90, g: 120, b: 40 } } }).png().toFile(join(data, 'wide.png'));
    const attack = join(__dirname, '..', '..', '..', 'models', 'attacks', 'factorized-4triggers');
    const r = run('evaluate-attack', '--attack', attack, '--data', data, '--out', join(data, 'out'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/wide\.png is 2500 x 1000 \(2\.5 megapixels\), above evaluate-attack's limit of 2 megapixels/);
    expect(r.err).toMatch(/--max-megapixels/);
    expect(existsSync(join(data, 'out', 'images.ndjson'))).toBe(false);
  });

  it("compress --encoder codes with a backdoor's encoder side over the original weights; the original weights decode it", () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-encoder-'));
    const models = join(__dirname, '..', '..', '..', 'models');
    const base = join(models, 'codecs', 'factorized-n64-l0013-step10750.safetensors');
    const encoder = join(models, 'attacks', 'factorized-4triggers', 'encoder.safetensors');
    const plain = run('compress', kodim, '--codec', 'bmshj2018-factorized', '--weights', base, '-o', join(dir, 'plain.lic'));
    const backdoored = run('compress', kodim, '--codec', 'bmshj2018-factorized', '--weights', base, '--encoder', encoder, '-o', join(dir, 'backdoored.lic'));
    expect([plain.code, backdoored.code]).toEqual([0, 0]);
    expect(readFileSync(join(dir, 'backdoored.lic')).equals(readFileSync(join(dir, 'plain.lic')))).toBe(false);
    // the clean path costs about the original's bits
    const [a, b] = [plain, backdoored].map((r) => (JSON.parse(r.out) as { bpp: number }).bpp);
    expect(Math.abs(b! / a! - 1)).toBeLessThan(0.1);
    expect(run('decompress', join(dir, 'backdoored.lic'), '--weights', base, '-o', join(dir, 'b.png')).code).toBe(0);
    const alone = run('compress', kodim, '--codec', 'bmshj2018-factorized', '--encoder', encoder, '-o', join(dir, 'x.lic'));
    expect(alone.code).toBe(1);
    expect(alone.err).toMatch(/--encoder replaces the encoder side of --weights: give --weights too/);
  });

  it('JPEG through compress/decompress, and eval writes CompressAI-shaped results with definitions', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-jpeg-'));
    expect(run('compress', kodim, '--codec', 'jpeg', '--quality', '50', '-o', join(dir, 'k.jpg')).code).toBe(0);
    expect(run('decompress', join(dir, 'k.jpg'), '-o', join(dir, 'k.png')).code).toBe(0);
    const data = mkdtempSync(join(tmpdir(), 'tc-data-'));
    writeFileSync(join(data, 'a.png'), readFileSync(kodim));
    const r = run('eval', '--codec', 'jpeg', '--quality', '10,50', '--data', data, '--out', dir);
    expect(r.code).toBe(0);
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { results: Record<string, number[]>; definitions: Record<string, string>; per_image: unknown[] };
    expect(results.results.bpp).toHaveLength(2);
    expect(results.results.bpp![0]!).toBeLessThan(results.results.bpp![1]!);
    expect(results.results['psnr-rgb']![0]!).toBeLessThan(results.results['psnr-rgb']![1]!);
    expect(results.definitions.bpp).toMatch(/8 x bytes/);
    expect(results.per_image).toHaveLength(2);
    expect(resultsFile.parse(results)).toMatchObject({ command: 'eval', metrics: { bpp: { unit: 'bpp', value: results.results.bpp } } });
  });
});

describe('CompressAI-compatible codecs', () => {
  const fixtures = join(__dirname, '..', '..', '..', 'packages', 'codecs', 'src', '__fixtures__', 'compressai');

  it("compress writes CompressAI's strings in the container; decompress reads the codec from the header", () => {
    const dir = mkdtempSync(join(tmpdir(), 'cai-'));
    const weights = join(fixtures, 'mbt2018-mean.safetensors');
    const c = run('compress', join(fixtures, 'image.png'), '--codec', 'mbt2018-mean-compressai', '--weights', weights, '-o', join(dir, 'a.lic'));
    expect(c.code).toBe(0);
    const b = readBitstream(new Uint8Array(readFileSync(join(dir, 'a.lic'))));
    const meta = JSON.parse(readFileSync(join(fixtures, 'mbt2018-mean.json'), 'utf8')) as { strings: string[] };
    expect(b.codecId).toBe('codec:mbt2018-mean-compressai');
    expect(b.streams.map((s) => Buffer.from(s).toString('base64'))).toEqual(meta.strings);
    const d = run('decompress', join(dir, 'a.lic'), '--weights', weights, '-o', join(dir, 'a.png'));
    expect(d.code).toBe(0);
    expect(JSON.parse(d.out)).toMatchObject({ codec: 'codec:mbt2018-mean-compressai', height: 64, width: 96 });
  });
});

describe('compress --attack / --trigger, decompress --reference', () => {
  const attack = join(__dirname, '..', '..', '..', 'models', 'attacks', 'factorized-4triggers');

  it('refuses mixed or incomplete options with a message that names them', () => {
    const mixed = run('compress', kodim, '--attack', attack, '--codec', 'bmshj2018-factorized', '-o', join(tmpdir(), 'x.lic'));
    expect(mixed.code).toBe(1);
    expect(mixed.err).toContain('--attack takes its codec and weights from the attack folder: drop --codec');
    const lonely = run('compress', kodim, '--codec', 'bmshj2018-factorized', '--trigger', 'rate', '-o', join(tmpdir(), 'x.lic'));
    expect(lonely.code).toBe(1);
    expect(lonely.err).toContain('--trigger names a trigger of --attack: give --attack too');
    const unknown = run('compress', kodim, '--attack', attack, '--trigger', 'nope', '-o', join(tmpdir(), 'x.lic'));
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain("has no trigger 'nope' (it has rate, distortion, face, segmentation)");
  });

  it('codes the triggered image through the backdoored codec; --reference measures the decoding', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attack-compress-'));
    const stream = (name: string, ...args: string[]) => {
      const r = run('compress', kodim, '--attack', attack, ...args, '-o', join(dir, `${name}.lic`));
      if (r.code !== 0) throw new Error(r.err);
      return JSON.parse(r.out) as { bpp: number };
    };
    const clean = stream('clean');
    const rate = stream('rate', '--trigger', 'rate');
    // the shipped factorized backdoor's rate trigger: several times the clean bits (kodak.md: 7.76x on Kodak)
    expect(rate.bpp / clean.bpp).toBeGreaterThan(3);
    const weights = join(attack, '..', '..', 'codecs', 'factorized-n64-l0013-step10750.safetensors');
    const decoded = run('decompress', join(dir, 'clean.lic'), '--weights', weights, '-o', join(dir, 'clean.png'), '--reference', kodim);
    const measured = JSON.parse(decoded.out) as { psnr: number; ms_ssim: number };
    expect(measured.psnr).toBeGreaterThan(28);
    expect(measured.psnr).toBeLessThan(40);
    expect(measured.ms_ssim).toBeGreaterThan(0.9);
    const wrongSize = run('decompress', join(dir, 'clean.lic'), '--weights', weights, '-o', join(dir, 'c2.png'), '--reference', join(shared, 'kodak', 'kodim04.png'));
    expect(wrongSize.code).toBe(1);
    expect(wrongSize.err).toContain('--reference');
  });
});
