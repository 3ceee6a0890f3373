// Gathers what the page fetches at run time into public/ (not in git; Vite serves it in dev and
// copies it into dist/): the committed codecs and shipped backdoors with a manifest, tfjs's wasm
// binaries (onnxruntime-web's the bundler emits), and a few Kodak samples when ../shared/data is present.
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const app = resolve(here, '..');
const root = resolve(app, '../..');
const out = join(app, 'public');
const require = createRequire(join(app, 'package.json'));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

/** Hard-links (else copies) `file` to `public/<to>`. */
function place(file, to) {
  const target = join(out, to);
  mkdirSync(dirname(target), { recursive: true });
  try {
    linkSync(file, target);
  } catch {
    copyFileSync(file, target);
  }
  return to;
}

const LEARNED = ['bmshj2018-factorized', 'bmshj2018-hyperprior', 'mbt2018-mean'];
const codecs = [];
const training = join(root, 'models/training');
for (const dir of readdirSync(training).sort()) {
  const weights = join(training, dir, 'model.safetensors');
  const configFile = join(training, dir, 'config.json');
  if (!existsSync(weights) || !existsSync(configFile)) continue;
  const config = JSON.parse(readFileSync(configFile, 'utf8'));
  if (!LEARNED.includes(config.model)) continue;
  codecs.push({ id: dir, label: `${config.model} N=${config.N} M=${config.M}, lambda ${config.lambda} (models/training/${dir})`, codec: config.model, weights: place(weights, `models/training/${dir}/model.safetensors`) });
}
for (const file of readdirSync(join(root, 'models/codecs')).filter((f) => f.endsWith('.safetensors')).sort()) {
  const codec = file.startsWith('factorized') ? 'bmshj2018-factorized' : file.startsWith('mbt') ? 'mbt2018-mean' : undefined;
  if (codec) codecs.push({ id: basename(file, '.safetensors'), label: `${codec} (models/codecs/${file})`, codec, weights: place(join(root, 'models/codecs', file), `models/codecs/${file}`) });
}

const backdoors = [];
const attacks = join(root, 'models/attacks');
for (const dir of readdirSync(attacks).sort()) {
  const summaryFile = join(attacks, dir, 'attack.json');
  if (!existsSync(summaryFile)) continue;
  const { config } = JSON.parse(readFileSync(summaryFile, 'utf8'));
  const weights = resolve(attacks, dir, config.codec.weights);
  const base = codecs.find((c) => c.weights === relative(root, weights));
  if (!base) throw new Error(`attack ${dir}: its codec weights ${relative(root, weights)} are not among the committed codecs`);
  backdoors.push({
    id: dir,
    label: `${dir}: backdoored ${base.label}`,
    codec: config.codec.id,
    weights: base.weights,
    encoder: place(join(attacks, dir, 'encoder.safetensors'), `models/attacks/${dir}/encoder.safetensors`),
    triggers: place(join(attacks, dir, 'triggers.safetensors'), `models/attacks/${dir}/triggers.safetensors`),
    // as the CLI creates them (packages/attack createTriggers): plugin reference and seed per trigger
    triggerSpecs: config.triggers.map((t, i) => ({ name: t.name, trigger: t.trigger, seed: config.seed * 1000 + i })),
  });
}

const samples = [];
const kodak = resolve(root, '../shared/data/kodak');
for (const name of ['kodim23.png', 'kodim05.png', 'kodim15.png', 'kodim21.png']) {
  if (existsSync(join(kodak, name))) samples.push(place(join(kodak, name), `samples/${name}`));
}

const tfjsWasm = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
for (const f of readdirSync(join(tfjsWasm, 'dist')).filter((f) => f.endsWith('.wasm'))) place(join(tfjsWasm, 'dist', f), `tfjs/${f}`);

writeFileSync(join(out, 'manifest.json'), JSON.stringify({ codecs, backdoors, samples }, null, 2));
console.log(`public/: ${codecs.length} codecs, ${backdoors.length} backdoors, ${samples.length} samples`);
