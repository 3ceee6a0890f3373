import * as tf from '@tensorflow/tfjs-core';
import { initializeBackend, readImage } from '@lic-backdoor/core';
import { FactorizedPrior, readStateDict } from '@lic-backdoor/codecs';
import { planIntegerSynthesis, runIntegerSynthesis } from '/work/main/packages/codecs/dist/layers/integer-synthesis.js';
await initializeBackend({ prefer: 'wasm' });
const m = new FactorizedPrior(64, 96, 0);
m.loadStateDict((await readStateDict('/work/main/models/training/factorized-n64-l0013-lr1e4/model.safetensors')).state);
let t0 = performance.now(); const plan = planIntegerSynthesis(m.gS); console.log('plan ms', (performance.now()-t0).toFixed(0), plan.convs.map(c => `${c.weights.pieces.length}p f${c.weights.fraction}`), plan.gdns.map(g => `${g.gamma.pieces.length}p f${g.gamma.fraction}`));
const psnr = (a, b) => { const mse = tf.mean(tf.square(tf.sub(a, b))).dataSync()[0]; return 10 * Math.log10(255 * 255 / mse); };
for (const f of ['kodim01', 'kodim07', 'kodim13', 'kodim23']) {
  const x = await readImage(`/work/shared/data/kodak/${f}.png`);
  const yHat = m.entropyBottleneck.dequantize(m.entropyBottleneck.quantize(m.analysis(x)));
  t0 = performance.now(); const fl = m.synthesis(yHat); fl.dataSync(); const t1 = performance.now();
  const it = runIntegerSynthesis(plan, yHat); it.dataSync(); const t2 = performance.now();
  const q = (t) => tf.round(tf.mul(tf.clipByValue(t, 0, 1), 255));
  const x8 = tf.round(tf.mul(x, 255)); const fq = q(fl), iq = q(it);
  const diff = tf.sum(tf.notEqual(fq, iq)).dataSync()[0];
  console.log(f, `float ${(t1-t0).toFixed(0)} ms int ${(t2-t1).toFixed(0)} ms`, 'maxabs', tf.max(tf.abs(tf.sub(fl, it))).dataSync()[0].toExponential(2), '8-bit differ', diff, 'of', fq.size, 'psnr float', psnr(x8, fq).toFixed(3), 'int', psnr(x8, iq).toFixed(3));
}
