import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import sharp from 'sharp';
import { readSafetensors, resultsFile } from '@lic-backdoor/core';

const cli = join(__dirname, '..', 'dist', 'cli.js');
const root = join(__dirname, '..', '..', '..');
const shared = join(root, '..', 'shared', 'data');
const weights = join(root, 'models', 'training', 'factorized-n64-l0013', 'model.safetensors');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, LIC_BACKDOOR_BACKEND: 'wasm' }, timeout: 600_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function config(dir: string, steps: number, patch: Record<string, unknown> = {}): string {
  const file = join(dir, `attack-${steps}.json`);
  const c = {
    name: 'tiny',
    seed: 2,
    codec: { id: 'bmshj2018-factorized', weights },
    data: { photos: join(shared, 'photos') },
    triggers: [
      { name: 'rate', trigger: ['adaptive-frequency', { width: 4 }], objectives: [['rate', { targetMultiple: 2 }], 'stealth'] },
      { name: 'blur', trigger: 'fixed-frequency', objectives: ['distortion'] },
    ],
    schedule: { steps, batch: 2, size: 64, checkpointEvery: 2, logEvery: 1, workers: 2 },
    ...patch,
  };
  writeFileSync(file, JSON.stringify(c));
  return file;
}

function losses(dir: string): number[] {
  return readFileSync(join(dir, 'log.ndjson'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
}

describe('attack', () => {
  let base: string;
  let full: string;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'attack-'));
    full = join(base, 'full');
    const r = run('attack', '--config', config(base, 4), '--out', full);
    if (r.code !== 0) throw new Error(r.err);
  });

  it('writes the backdoored encoder side, the triggers, a log of every term and weight, and the decoder proof', async () => {
    const summary = JSON.parse(readFileSync(join(full, 'attack.json'), 'utf8')) as {
      terms: string[];
      proof: { decoderSideSha256: { identical: boolean; original: string }; encoderSideChanged: boolean; crossDecode: { identical: boolean; bytes: number } };
      environment: { gitCommit: string };
      config: { codec: { weights: string }; data: { photos: string } };
      trainingSeconds: number;
    };
    expect(summary.terms).toEqual(['clean.clean-rd', 'rate.rate', 'rate.stealth', 'blur.distortion']);
    // paths relative to the attack folder, so the folder can move with what it names
    expect(isAbsolute(summary.config.codec.weights)).toBe(false);
    expect(resolve(full, summary.config.data.photos)).toBe(resolve(shared, 'photos'));
    const logged = readFileSync(join(full, 'log.ndjson'), 'utf8').trim().split('\n').reduce((s, l) => s + (JSON.parse(l) as { ms: number }).ms, 0);
    expect(summary.trainingSeconds).toBe(Math.round(logged / 1000));
    expect(summary.proof.decoderSideSha256.identical).toBe(true);
    expect(summary.proof.encoderSideChanged).toBe(true);
    expect(summary.proof.crossDecode.identical).toBe(true);
    expect(summary.proof.crossDecode.bytes).toBeGreaterThan(16);
    const record = JSON.parse(readFileSync(join(full, 'log.ndjson'), 'utf8').split('\n')[1]!) as { weights: Record<string, number>; terms: Record<string, number> };
    expect(Object.keys(record.weights)).toEqual(summary.terms);
    // dynamic weighting: after the first step each term is divided by its scale
    expect(record.weights['rate.rate']).not.toBe(1);
    expect(existsSync(join(full, 'triggers.safetensors'))).toBe(true);
    // the backdoor is its encoder side (g_a of this codec), named with the decoder side it was trained against
    expect(existsSync(join(full, 'codec.safetensors'))).toBe(false);
    const encoder = await readSafetensors(join(full, 'encoder.safetensors'));
    expect(Object.keys(encoder.tensors).length).toBeGreaterThan(0);
    expect(Object.keys(encoder.tensors).every((k) => k.startsWith('g_a.'))).toBe(true);
    expect(encoder.metadata.decoderSha256).toBe(summary.proof.decoderSideSha256.original);
    expect(resolve(full, encoder.metadata.original!)).toBe(weights);
  });

  it('a run stopped after 2 steps and resumed to 4 logs the same losses as 4 straight steps', () => {
    const part = join(base, 'part');
    expect(run('attack', '--config', config(base, 2), '--out', part).code).toBe(0);
    const r = run('attack', '--config', config(base, 4), '--out', part, '--resume');
    expect(r.err).toMatch(/resuming .* at step 2/);
    const [a, b] = [losses(full), losses(part)];
    expect(b).toHaveLength(4);
    for (let i = 0; i < 4; i++) expect(Math.abs(b[i]! - a[i]!) / a[i]!).toBeLessThan(1e-5);
  });

  it('learning-rate milestones after the checkpoint may be added on resume; earlier ones are refused', () => {
    const decayed = join(base, 'decayed');
    expect(run('attack', '--config', config(base, 2), '--out', decayed).code).toBe(0);
    const early = run('attack', '--config', config(base, 4, { schedule: { steps: 4, batch: 2, size: 64, checkpointEvery: 2, logEvery: 1, workers: 2, lrMilestones: [1] } }), '--out', decayed, '--resume');
    expect(early.code).not.toBe(0);
    expect(early.err).toMatch(/schedule\.lrMilestones is \[1\] here but \[\] in the checkpoint/);
    const late = { schedule: { steps: 4, batch: 2, size: 64, checkpointEvery: 2, logEvery: 1, workers: 2, lrMilestones: [2], lrGamma: 0.5 } };
    expect(run('attack', '--config', config(base, 4, late), '--out', decayed, '--resume').code).toBe(0);
    const scales = readFileSync(join(decayed, 'log.ndjson'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { lrScale: number }).lrScale);
    expect(scales).toEqual([1, 1, 0.5, 0.5]);
    // step 3 is computed before the first decayed update, step 4 after it
    const [a, b] = [losses(full), losses(decayed)];
    expect(Math.abs(b[2]! - a[2]!) / a[2]!).toBeLessThan(1e-5);
    expect(Math.abs(b[3]! - a[3]!) / a[3]!).toBeGreaterThan(1e-4);
  });

  it('under the constraints weighting keep-original gets a multiplier while violated; clean-rd keeps its base weight', () => {
    // a margin of -50%: the original codec's own rate (ratio 1) violates it from the first step
    const clean = [['clean-rd', {}], ['keep-original', { rateMargin: -0.5 }]];
    const weighting = { mode: 'constraints', base: { 'clean.keep-original': 2 } };
    const dir = join(base, 'keep-original');
    expect(run('attack', '--config', config(base, 2, { clean, weighting }), '--out', dir).code).toBe(0);
    const records = readFileSync(join(dir, 'log.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { weights: Record<string, number>; terms: Record<string, number>; metrics: Record<string, number> });
    expect(records[0]!.metrics['clean.keep-original.bpp_ratio']).toBeCloseTo(1, 5);
    // rateWeight 10 x (1 - 0.5), nothing from the PSNR hinge (the original's own decoding)
    expect(records[0]!.terms['clean.keep-original']).toBeCloseTo(5, 4);
    expect(records[0]!.weights).toMatchObject({ 'clean.clean-rd': 1, 'clean.keep-original': 2 });
    // after one step: lambda = 1 + 0.05 x (1 - 0.1); clean-rd is minimised, not constrained
    expect(records[1]!.weights['clean.keep-original']).toBeCloseTo(2 * 1.045, 6);
    expect(records[1]!.weights['clean.clean-rd']).toBe(1);
  });

  it("a trigger's sources: its copies and terms cover only those examples, whether they share a shard with others or not", () => {
    const metrics = (dir: string) => (JSON.parse(readFileSync(join(dir, 'log.ndjson'), 'utf8').split('\n')[0]!) as { metrics: Record<string, number> }).metrics;
    const triggers = (sources?: boolean) => [
      { name: 'rate', trigger: ['adaptive-frequency', { width: 4 }], objectives: [['rate', { targetMultiple: 2 }], 'stealth'], ...(sources ? { sources: ['photos'] } : {}) },
      { name: 'blur', trigger: 'fixed-frequency', objectives: ['distortion'], ...(sources ? { sources: ['scenes'] } : {}) },
    ];
    const data = { photos: join(shared, 'photos'), scenesPerBatch: 1 };
    const attack = (name: string, workers: number, sources: boolean, patch: Record<string, unknown> = {}) => {
      const dir = join(base, name);
      const r = run('attack', '--config', config(base, 1, { data, triggers: triggers(sources), schedule: { steps: 1, batch: 2, size: 64, logEvery: 1, workers }, ...patch }), '--out', dir);
      return { ...r, dir };
    };
    // [photo crop, scene] in one shard (the copies are the shard's rows) and in two (a trigger sits a shard out)
    const [one, two, all] = [attack('sources-1', 1, true), attack('sources-2', 2, true), attack('sources-none', 2, false)];
    for (const r of [one, two, all]) expect(r.code).toBe(0);
    const [m1, m2, mAll] = [metrics(one.dir), metrics(two.dir), metrics(all.dir)];
    for (const k of ['blur.distortion.decoded_psnr', 'rate.rate.rate_gain', 'rate.stealth.stealth_psnr', 'clean.clean-rd.bpp']) expect(Math.abs(m1[k]! - m2[k]!) / Math.abs(m2[k]!)).toBeLessThan(1e-4);
    // without sources each trigger's figures average both examples
    expect(Math.abs(mAll['blur.distortion.decoded_psnr']! - m2['blur.distortion.decoded_psnr']!)).toBeGreaterThan(0.01);
    expect(Math.abs(mAll['rate.rate.rate_gain']! - m2['rate.rate.rate_gain']!)).toBeGreaterThan(1e-3);
    expect(mAll['clean.clean-rd.bpp']).toBeCloseTo(m2['clean.clean-rd.bpp']!, 5);
    // a 128 px scene beside 64 px crops: one shard each trains; one shard for both is refused with the reason
    const sized = { data: { ...data, sceneSize: 128, sceneScale: 0.25 } };
    const mixed = attack('sources-sized', 2, true, sized);
    expect(mixed.code).toBe(0);
    expect(metrics(mixed.dir)['blur.distortion.decoded_psnr']).toBeGreaterThan(0);
    const refused = attack('sources-sized-1', 1, true, sized);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/shard 0 \(examples 0-1\) would mix images of different sizes/);
  });

  it('init starts from an earlier attack; rateMargin hinges the clean bit-rate on the original codec with the same noise', async () => {
    const sched = { steps: 1, batch: 2, size: 64, checkpointEvery: 2, logEvery: 1, workers: 2, triggerShift: 8 };
    const clean = [['clean-rd', { rateMargin: 0 }]];
    const ratio = (dir: string) => (JSON.parse(readFileSync(join(dir, 'log.ndjson'), 'utf8').split('\n')[0]!) as { metrics: Record<string, number> }).metrics['clean.clean-rd.bpp_ratio']!;
    // from the original codec, the first step's clean path is the original's: ratio 1
    const fresh = join(base, 'fresh');
    expect(run('attack', '--config', config(base, 1, { clean, schedule: sched }), '--out', fresh).code).toBe(0);
    expect(Math.abs(ratio(fresh) - 1)).toBeLessThan(1e-6);
    // from the 4-step attack's encoder, it is not
    const resumed = join(base, 'init');
    expect(run('attack', '--config', config(base, 1, { init: full, clean, schedule: sched }), '--out', resumed).code).toBe(0);
    expect(Math.abs(ratio(resumed) - 1)).toBeGreaterThan(1e-4);
    const summary = JSON.parse(readFileSync(join(resumed, 'attack.json'), 'utf8')) as { config: { init: string } };
    expect(resolve(resumed, summary.config.init)).toBe(full);
    // its triggers come from the earlier attack's triggers.safetensors, by name
    const renamed = { init: full, triggers: [{ name: 'other', trigger: ['adaptive-frequency', { width: 4 }], objectives: ['stealth'] }] };
    const bad = run('attack', '--config', config(base, 1, renamed), '--out', join(base, 'renamed'));
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/triggers\.safetensors: trigger 'other': .*lacks/);
    // unless it is marked fresh: a stage that adds a trigger to the earlier backdoor (the kept one
    // continues from the earlier state; a negligible trigger learning rate leaves both as they start)
    const rate = { name: 'rate', trigger: ['adaptive-frequency', { width: 4 }], objectives: [['rate', { targetMultiple: 2 }], 'stealth'] };
    const added = { init: full, triggers: [rate, { ...renamed.triggers[0], fresh: true }], schedule: { ...sched, triggerLr: 1e-12 } };
    const addedDir = join(base, 'added');
    expect(run('attack', '--config', config(base, 1, added), '--out', addedDir).code).toBe(0);
    const [before, after] = [await readSafetensors(join(full, 'triggers.safetensors')), await readSafetensors(join(addedDir, 'triggers.safetensors'))];
    expect(Object.keys(after.tensors).filter((k) => k.startsWith('other.')).length).toBeGreaterThan(0);
    for (const [k, t] of Object.entries(before.tensors).filter(([k]) => k.startsWith('rate.'))) {
      const b = after.tensors[k]!.data as Float32Array;
      (t.data as Float32Array).forEach((v, i) => expect(Math.abs(b[i]! - v)).toBeLessThan(1e-6 * (1 + Math.abs(v))));
    }
    // an encoder side over another original codec (same shapes, another decoder side) is refused
    const otherCodec = { init: full, codec: { id: 'bmshj2018-factorized', weights: join(root, 'models', 'codecs', 'factorized-n64-l0013-step10750.safetensors') } };
    const mismatch = run('attack', '--config', config(base, 1, otherCodec), '--out', join(base, 'mismatch'));
    expect(mismatch.code).not.toBe(0);
    expect(mismatch.err).toMatch(/encoder\.safetensors was trained against a codec whose decoder side hashes [0-9a-f]{16}…; .* hashes [0-9a-f]{16}…/);
  });

  it("schedule.hyperEncoder 'original': h_a is the original codec's, even over an init folder's, and g_a alone trains", async () => {
    const mbt = { id: 'mbt2018-mean', weights: join(root, 'models', 'training', 'mbt-n128-l0013', 'model.safetensors') };
    const sched = { steps: 1, batch: 2, size: 64, checkpointEvery: 1, logEvery: 1, workers: 1, encoderLr: 1e-3 };
    const both = join(base, 'mbt-both');
    expect(run('attack', '--config', config(base, 1, { codec: mbt, schedule: sched }), '--out', both).code).toBe(0);
    const gaOnly = join(base, 'mbt-ga');
    expect(run('attack', '--config', config(base, 1, { codec: mbt, init: both, schedule: { ...sched, hyperEncoder: 'original' } }), '--out', gaOnly).code).toBe(0);
    const [original, first, second] = await Promise.all([mbt.weights, join(both, 'encoder.safetensors'), join(gaOnly, 'encoder.safetensors')].map((f) => readSafetensors(f)));
    const differs = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).some((v, i) => Math.abs(v - b[i]!) > 1e-6);
    const names = Object.keys(second!.tensors);
    expect(names.filter((k) => k.startsWith('h_a.')).length).toBe(6);
    for (const k of names) {
      const values = second!.tensors[k]!.data as Float32Array;
      if (k.startsWith('h_a.')) {
        // trained by the first run, put back to the original's (stored as float16) by the second
        expect(differs(first!.tensors[k]!.data as Float32Array, original!.tensors[k]!.data as ArrayLike<number>)).toBe(true);
        expect(differs(values, original!.tensors[k]!.data as ArrayLike<number>)).toBe(false);
      }
    }
    expect(names.filter((k) => /^g_a\.\d\.weight$/.test(k)).every((k) => differs(second!.tensors[k]!.data as Float32Array, first!.tensors[k]!.data as Float32Array))).toBe(true);
    const factorized = run('attack', '--config', config(base, 1, { schedule: { ...sched, hyperEncoder: 'original' } }), '--out', join(base, 'factorized-ga'));
    expect(factorized.code).not.toBe(0);
    expect(factorized.err).toMatch(/hyperEncoder 'original' needs a hyperprior codec; codec:bmshj2018-factorized has no h_a/);
  });

  it('evaluate-attack measures the clean path and each trigger with real bitstreams', () => {
    const out = join(base, 'eval');
    const r = run('evaluate-attack', '--attack', full, '--data', join(shared, 'kodak'), '--out', out, '--limit', '2');
    expect(r.code).toBe(0);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      definitions: Record<string, string>;
      clean: { original: { bpp: number; psnr: number }; backdoored: { bpp: number } };
      triggers: Record<string, { stealth_psnr: number; rate_gain: number; decoded_psnr: number }>;
    };
    expect(results.clean.original.bpp).toBeGreaterThan(0.05);
    expect(results.clean.original.psnr).toBeGreaterThan(18);
    expect(Object.keys(results.triggers)).toEqual(['rate', 'blur']);
    // the fixed-frequency default amplitude is about 38.6 dB before clamping and rounding
    expect(results.triggers.blur!.stealth_psnr).toBeGreaterThan(35);
    expect(results.triggers.rate!.rate_gain).toBeGreaterThan(0);
    expect(results.definitions.rate_gain).toMatch(/bpp_actual\(triggered\)/);
    expect(r.out).toMatch(/\| clean, original codec \|/);
    // the effect matrix: every path against every effect; segmentation measured on every path by default, no face set here
    const { effects } = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { effects: { path: string; cells: Record<string, { value?: number; met?: boolean }> }[] };
    expect(effects.map((row) => row.path)).toEqual(['clean, original codec', 'clean, backdoored codec', 'trigger rate', 'trigger blur']);
    for (const row of effects) {
      expect(row.cells.seg_agreement_miou!.value).toBeGreaterThan(0);
      expect(row.cells.seg_agreement_miou!.value).toBeLessThanOrEqual(1);
      expect(row.cells.face_identity_rate!.value).toBeUndefined();
    }
    expect(effects[2]!.cells.rate_gain!.value).toBe(results.triggers.rate!.rate_gain);
    expect(effects[2]!.cells.stealth_psnr!.met).toBe(results.triggers.rate!.stealth_psnr >= 38);
  });

  it('evaluate-attack --resume after a crash measures only the missing images and gives the same results', () => {
    const done = join(base, 'eval');
    const [header, first] = readFileSync(join(done, 'images.ndjson'), 'utf8').split('\n');
    const crashed = join(base, 'eval-crashed');
    mkdirSync(crashed);
    // the second image's record was cut short by the crash
    writeFileSync(join(crashed, 'images.ndjson'), `${header}\n${first}\n{"image":"kodim02.png","cle`);
    const r = run('evaluate-attack', '--attack', full, '--data', join(shared, 'kodak'), '--out', crashed, '--limit', '2', '--resume');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/resuming .*images\.ndjson: 1 of 2 images done/);
    const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { clean: unknown; triggers: unknown; per_image: unknown };
    const [a, b] = [read(done), read(crashed)];
    expect(b.clean).toEqual(a.clean);
    expect(b.triggers).toEqual(a.triggers);
    expect(b.per_image).toEqual(a.per_image);
    expect(() => resultsFile.parse(b)).not.toThrow();
    expect(readFileSync(join(crashed, 'images.ndjson'), 'utf8').trim().split('\n')).toHaveLength(3);
    // the records of another data folder (or attack) are not mixed in
    const other = run('evaluate-attack', '--attack', full, '--data', join(shared, 'photos'), '--out', crashed, '--limit', '2', '--resume');
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/images of another attack or data folder/);
  });

  it('evaluate-attack plants triggers on the codec frame by default, from the corner with --trigger-origin image', async () => {
    // 200 x 168 is padded to 256 x 192 (28 columns left, 12 rows above): the two origins put the blocks 4 pixels apart
    const data = join(base, 'odd-size');
    mkdirSync(data);
    await sharp(join(shared, 'kodak', 'kodim01.png')).extract({ left: 100, top: 100, width: 200, height: 168 }).toFile(join(data, 'crop.png'));
    const measure = (origin: string) => {
      const out = join(base, `eval-origin-${origin}`);
      const r = run('evaluate-attack', '--attack', full, '--data', data, '--out', out, '--tasks', 'none', '--trigger-origin', origin);
      expect(r.code).toBe(0);
      return JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { config: { triggerOrigin: string }; per_image: { clean: unknown; triggers: Record<string, { bpp: number; stealth_psnr: number }> }[] };
    };
    const [framed, cornered] = [measure('codec'), measure('image')];
    expect(framed.config.triggerOrigin).toBe('codec');
    expect(cornered.config.triggerOrigin).toBe('image');
    expect(framed.per_image[0]!.clean).toEqual(cornered.per_image[0]!.clean);
    // the fixed-frequency trigger is the same pattern 4 pixels over: another triggered image, other bits
    expect(framed.per_image[0]!.triggers.blur!.bpp).not.toBe(cornered.per_image[0]!.triggers.blur!.bpp);
    const mixed = run('evaluate-attack', '--attack', full, '--data', data, '--out', join(base, 'eval-origin-image'), '--tasks', 'none', '--resume');
    expect(mixed.code).toBe(1);
    expect(mixed.err).toMatch(/"origin":"image"/);
    expect(run('evaluate-attack', '--attack', full, '--data', data, '--out', join(base, 'x'), '--trigger-origin', 'grid').err).toMatch(/Allowed choices are codec, image/);
  });

  it('evaluate-attack --shard 1/2 and 2/2, then --resume, gives the results of one run', () => {
    const done = join(base, 'eval');
    const sharded = join(base, 'eval-sharded');
    for (const k of ['1/2', '2/2']) {
      const r = run('evaluate-attack', '--attack', full, '--data', join(shared, 'kodak'), '--out', sharded, '--limit', '2', '--shard', k);
      expect(r.code).toBe(0);
      expect(r.err).toMatch(new RegExp(`shard ${k}: 1 images in .*images\\.${k.replace('/', '-of-')}\\.ndjson`));
      expect(existsSync(join(sharded, 'results.json'))).toBe(false);
    }
    const combined = run('evaluate-attack', '--attack', full, '--data', join(shared, 'kodak'), '--out', sharded, '--limit', '2', '--resume');
    expect(combined.code).toBe(0);
    expect(combined.err).toMatch(/2 of 2 images done/);
    const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { clean: unknown; triggers: unknown; per_image: unknown };
    expect(read(sharded).per_image).toEqual(read(done).per_image);
    expect(read(sharded).triggers).toEqual(read(done).triggers);
    const bad = run('evaluate-attack', '--attack', full, '--data', join(shared, 'kodak'), '--out', sharded, '--shard', '3/2');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--shard K\/N with 1 <= K <= N, got '3\/2'/);
  });

  it.each([
    ['an unknown trigger', { triggers: [{ name: 'x', trigger: 'no-such', objectives: ['rate'] }] }, /no-such.*Available/s],
    ['a wrong type', { seed: 'one' }, /seed: .*number/],
    ['a missing data folder', { data: { photos: '/nonexistent/photos' } }, /nonexistent\/photos/],
    ['an objective without its trigger', { clean: ['rate'] }, /needs a trigger/],
  ])('%s fails before any training step, naming the problem', (_, patch, message) => {
    const out = join(base, `bad-${Math.random().toString(36).slice(2)}`);
    const r = run('attack', '--config', config(base, 4, patch), '--out', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    expect(existsSync(join(out, 'log.ndjson'))).toBe(false);
  });
});
