import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initializeBackend, readSafetensors, writeSafetensors } from '@lic-backdoor/core';
import { FactorizedPrior } from './models/factorized.js';
import { HyperpriorModel } from './models/hyperprior.js';
import { WeightsError, currentKeys, readStateDict, writeStateDict } from './weights.js';

beforeAll(() => initializeBackend({ prefer: 'wasm' }));

// CompressAI 1.2.6 renamed the entropy bottleneck's _matrix<i>/_bias<i>/_factor<i> to matrices.<i>/biases.<i>/factors.<i>
describe.each([
  ['bmshj2018-factorized', () => new FactorizedPrior(8, 12, 3), () => new FactorizedPrior(8, 12, 4)],
  ['bmshj2018-hyperprior', () => new HyperpriorModel('scale', 8, 12, 3), () => new HyperpriorModel('scale', 8, 12, 4)],
  ['mbt2018-mean', () => new HyperpriorModel('mean-scale', 8, 12, 3), () => new HyperpriorModel('mean-scale', 8, 12, 4)],
] as const)('%s state dicts in both CompressAI spellings', (_, make, other) => {
  it('loads a >= 1.2.6 and a pre-1.2.6 file to the same model, says which it was, and saves the current names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keys-'));
    const source = make();
    const legacy = source.stateDict();
    const [oldFile, newFile, saved] = [join(dir, 'old.safetensors'), join(dir, 'new.safetensors'), join(dir, 'saved.safetensors')];
    await writeSafetensors(oldFile, legacy, {});
    await writeSafetensors(newFile, currentKeys(legacy), {});
    const [a, b] = [await readStateDict(oldFile), await readStateDict(newFile)];
    expect([a.convention, b.convention]).toEqual(['compressai<1.2.6', 'compressai>=1.2.6']);
    expect(Object.keys((await readSafetensors(newFile)).tensors)).toContain('entropy_bottleneck.matrices.0');
    const [fromOld, fromNew] = [other(), other()];
    fromOld.loadStateDict(a.state);
    fromNew.loadStateDict(b.state);
    // the same parameters either way: the decoder-side hash (names included) equals the source's
    expect(Buffer.from(fromNew.decoderHash()).toString('hex')).toBe(Buffer.from(source.decoderHash()).toString('hex'));
    expect(Buffer.from(fromOld.decoderHash()).toString('hex')).toBe(Buffer.from(source.decoderHash()).toString('hex'));
    await writeStateDict(saved, fromOld.stateDict());
    const keys = Object.keys((await readSafetensors(saved)).tensors);
    expect(keys).toContain('entropy_bottleneck.matrices.0');
    expect(keys).toContain('entropy_bottleneck.biases.0');
    expect(keys).toContain('entropy_bottleneck.factors.0');
    expect(keys.some((k) => /\._matrix\d/.test(k))).toBe(false);
    for (const m of [source, fromOld, fromNew]) m.dispose();
  });
});

test('a file mixing the two spellings is refused, naming both', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'keys-'));
  const m = new FactorizedPrior(8, 12, 3);
  const state = m.stateDict();
  const mixed = { ...state, 'entropy_bottleneck.matrices.1': state['entropy_bottleneck._matrix1']! };
  delete mixed['entropy_bottleneck._matrix1'];
  await writeSafetensors(join(dir, 'mixed.safetensors'), mixed, {});
  await expect(readStateDict(join(dir, 'mixed.safetensors'))).rejects.toThrow(WeightsError);
  await expect(readStateDict(join(dir, 'mixed.safetensors'))).rejects.toThrow(/both CompressAI spellings .*matrices\.<i> and _matrix<i>/);
  m.dispose();
});
