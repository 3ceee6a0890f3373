#!/usr/bin/env node
// Bundles the benchmark CLI, the training worker and the benchmark model into one folder that runs
// with plain Node 20 (no pnpm, no node_modules): copy the folder to a machine with more cores and run
// `node cli.js train-step ...` there. Image codecs through sharp are left out (the benchmarks never
// encode images). Usage: node scripts/bundle.mjs [OUT_DIR] (default: bundle/), after `pnpm build`.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const app = resolve(here, '..');
const out = resolve(process.argv[2] ?? join(app, 'bundle'));
const require = createRequire(join(app, 'package.json'));
const wasmDir = dirname(createRequire(require.resolve('@lic-backdoor/core')).resolve('@tensorflow/tfjs-backend-wasm'));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  // the engine starts `./worker.js` next to itself, and the benchmark hands workers `./autoencoder.js`
  entryPoints: { cli: join(app, 'dist/cli.js'), worker: require.resolve('@lic-backdoor/training/worker'), autoencoder: join(app, 'dist/autoencoder.js') },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  outdir: out,
  external: ['onnxruntime-node', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
  plugins: [
    {
      name: 'no-sharp',
      setup(b) {
        b.onResolve({ filter: /^sharp$/ }, () => ({ path: 'sharp', namespace: 'no-sharp' }));
        b.onLoad({ filter: /.*/, namespace: 'no-sharp' }, () => ({
          contents: 'export default function sharp() { throw new Error("image codecs are not part of the benchmark bundle"); }',
        }));
      },
    },
  ],
  // CommonJS dependencies (tfjs-backend-wasm's loader) expect require and __dirname
  banner: {
    js: "import{createRequire as __cr}from'node:module';import{fileURLToPath as __fu}from'node:url';import{dirname as __dn}from'node:path';const require=__cr(import.meta.url);const __filename=__fu(import.meta.url);const __dirname=__dn(__filename);",
  },
  logLevel: 'warning',
});
copyFileSync(join(wasmDir, 'tfjs-backend-wasm-simd.wasm'), join(out, 'tfjs-backend-wasm-simd.wasm'));
copyFileSync(join(wasmDir, 'tfjs-backend-wasm.wasm'), join(out, 'tfjs-backend-wasm.wasm'));
writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
console.log(`wrote ${out}: node ${join(out, 'cli.js')} train-step --help`);
