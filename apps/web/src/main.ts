import * as tf from '@tensorflow/tfjs-core';
import { rgbToTensor, tensorToRgb, type CodecV1, type RgbImage, type TriggerV1 } from '@lic-backdoor/core';
import { psnr, triggeredImage } from '@lic-backdoor/evaluators';
import { codePath, dctEnergy, fetchBytes, initialize, loadCodec, loadTriggers, type BackdoorEntry, type CodecEntry, type CodedPath, type Manifest } from './engine.js';
import { decodeImageFile, MAX_MEGAPIXELS } from './image.js';
import { BACKBONE_FILES, faceSimilarity, loadBackbones, segmentationAgreement, SEGMENTATION_SIZE, type Backbones } from './tasks.js';

const base = document.baseURI;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>('status');
const bar = $<HTMLProgressElement>('progress');
const errorBox = $<HTMLParagraphElement>('error');
const codecSelect = $<HTMLSelectElement>('codec');
const triggerSelect = $<HTMLSelectElement>('trigger');
const runButton = $<HTMLButtonElement>('run');

function progress(message: string, fraction?: number): void {
  status.textContent = message;
  bar.hidden = fraction === undefined;
  if (fraction !== undefined) bar.value = fraction;
}

function fail(error: unknown): void {
  errorBox.hidden = false;
  errorBox.textContent = (error as Error).message ?? String(error);
  progress('stopped');
  document.body.dataset.state = 'error';
  runButton.disabled = !image;
}

/** Lets the page repaint between long steps. */
const paint = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

let manifest: Manifest;
let backbones: Backbones = {};
let image: { name: string; rgb: RgbImage } | undefined;

type Choice = { kind: 'codec'; entry: CodecEntry } | { kind: 'backdoor'; entry: BackdoorEntry };
function choice(): Choice {
  const [kind, id] = codecSelect.value.split(':') as ['codec' | 'backdoor', string];
  return kind === 'codec' ? { kind, entry: manifest.codecs.find((c) => c.id === id)! } : { kind, entry: manifest.backdoors.find((b) => b.id === id)! };
}

function fillTriggers(): void {
  const c = choice();
  triggerSelect.replaceChildren(new Option('none', ''));
  if (c.kind === 'backdoor') for (const t of c.entry.triggerSpecs) triggerSelect.add(new Option(t.name, t.name));
  triggerSelect.disabled = c.kind !== 'backdoor';
}

async function draw(canvas: HTMLCanvasElement, x: tf.Tensor4D | RgbImage): Promise<void> {
  const rgb = x instanceof tf.Tensor ? await tensorToRgb(x) : x;
  const rgba = new Uint8ClampedArray(rgb.width * rgb.height * 4);
  for (let i = 0, j = 0; i < rgb.data.length; i += 3, j += 4) {
    rgba[j] = rgb.data[i]!;
    rgba[j + 1] = rgb.data[i + 1]!;
    rgba[j + 2] = rgb.data[i + 2]!;
    rgba[j + 3] = 255;
  }
  canvas.width = rgb.width;
  canvas.height = rgb.height;
  canvas.getContext('2d')!.putImageData(new ImageData(rgba, rgb.width, rgb.height), 0, 0);
}

function drawEnergy(canvas: HTMLCanvasElement, energy: number[][]): void {
  const ctx = canvas.getContext('2d')!;
  const logs = energy.flat().map((e) => Math.log10(e + 1e-6));
  const lo = Math.min(...logs);
  const hi = Math.max(...logs);
  const cell = canvas.width / 8;
  energy.forEach((row, u) =>
    row.forEach((_, v) => {
      const t = hi > lo ? (logs[u * 8 + v]! - lo) / (hi - lo) : 0;
      ctx.fillStyle = `hsl(${240 - 240 * t}, 80%, ${20 + 45 * t}%)`;
      ctx.fillRect(v * cell, u * cell, cell, cell);
    }),
  );
  canvas.title = energy.map((row) => row.map((e) => e.toFixed(2)).join(' ')).join('\n');
}

async function showImage(name: string, rgb: RgbImage): Promise<void> {
  image = { name, rgb };
  errorBox.hidden = true;
  $('inputs').hidden = false;
  $('outputs').hidden = true;
  for (const id of ['triggered-figure', 'diff-figure', 'dct-figure']) $(id).hidden = true;
  await draw($<HTMLCanvasElement>('input'), rgb);
  $('input-size').textContent = `${name}, ${rgb.width} × ${rgb.height}`;
  runButton.disabled = false;
  progress(`${name} ready: pick a codec and a trigger, then Run`);
}

async function takeFile(name: string, bytes: Uint8Array): Promise<void> {
  try {
    await showImage(name, await decodeImageFile(bytes, name));
  } catch (error) {
    image = undefined;
    fail(error);
  }
}

const codecs = new Map<string, Promise<CodecV1>>();
const triggerSets = new Map<string, Promise<Map<string, TriggerV1>>>();
function cached<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let v = map.get(key);
  if (!v) {
    v = make();
    v.catch(() => map.delete(key));
    map.set(key, v);
  }
  return v;
}

interface PathResult extends Omit<CodedPath, 'decoded' | 'bytes'> {
  path: string;
  bytes: number;
  /** Cosine similarity of the decoded image's face to the original's (null: no face; absent: no face backbones). */
  faceCosine?: number | null;
  /** seg_agreement_miou of the decoded image with the original (absent: no segmentation backbone). */
  segMiou?: number;
}

async function run(): Promise<void> {
  if (!image) return;
  runButton.disabled = true;
  errorBox.hidden = true;
  $('outputs').hidden = true;
  document.body.dataset.state = 'running';
  const c = choice();
  const triggerName = triggerSelect.value;
  const x = rgbToTensor(image.rgb);
  const paths: { path: string; result: CodedPath }[] = [];
  const summary: Record<string, unknown> = { image: image.name, height: image.rgb.height, width: image.rgb.width, codec: c.entry.id, trigger: triggerName || null };
  try {
    const stock = await cached(codecs, c.entry.weights, () => loadCodec(c.entry, base, progress));
    progress(`coding ${image.name} through the original codec`);
    await paint();
    paths.push({ path: 'original codec, clean image', result: await codePath(stock, stock, x, x) });
    if (c.kind === 'backdoor') {
      const backdoored = await cached(codecs, `${c.entry.weights}+${c.entry.encoder}`, () => loadCodec(c.entry, base, progress, c.entry.encoder));
      progress(`coding ${image.name} through the backdoored encoder`);
      await paint();
      paths.push({ path: 'backdoored encoder, clean image', result: await codePath(backdoored, stock, x, x) });
      if (triggerName) {
        const triggers = await cached(triggerSets, c.entry.id, () => loadTriggers(c.entry as BackdoorEntry, base, progress));
        progress(`applying the ${triggerName} trigger`);
        await paint();
        const xt = triggeredImage(triggers.get(triggerName)!, x);
        const stealth = psnr(x, xt);
        summary.stealthPsnr = stealth;
        summary.dctEnergy = dctEnergy(x, xt);
        await showTrigger(x, xt, stealth, summary.dctEnergy as number[][]);
        progress(`coding the triggered image through the backdoored encoder`);
        await paint();
        paths.push({ path: `backdoored encoder, ${triggerName} trigger`, result: await codePath(backdoored, stock, xt, x) });
        xt.dispose();
      }
    }
    const rows = paths.map(({ path, result: { decoded: _decoded, bytes, ...rest } }): PathResult => ({ path, bytes: bytes.length, ...rest }));
    const decodedImages = paths.map((p) => p.result.decoded);
    if (backbones.face) {
      progress('face recognition on the original and each decoding');
      await paint();
      (await faceSimilarity(backbones.face, x, decodedImages)).forEach((c, i) => (rows[i]!.faceCosine = c));
    }
    $('masks').hidden = true;
    if (backbones.segmenter) {
      progress('segmentation of the original and each decoding');
      await paint();
      const seg = await segmentationAgreement(backbones.segmenter, x, decodedImages);
      seg.miou.forEach((m, i) => (rows[i]!.segMiou = m));
      showMasks(seg.original, seg.masks, paths.map((p) => p.path));
    }
    summary.paths = rows;
    await showPaths(paths, rows);
    $('results-json').textContent = JSON.stringify(summary);
    const first = paths[0]!.result;
    progress(`done: ${image.name} coded in ${first.encodeSeconds.toFixed(2)} s and decoded in ${first.decodeSeconds.toFixed(2)} s by the original codec`);
    document.body.dataset.state = 'done';
  } catch (error) {
    fail(error);
  } finally {
    x.dispose();
    for (const p of paths) p.result.decoded.dispose();
    runButton.disabled = false;
  }
}

async function showTrigger(x: tf.Tensor4D, xt: tf.Tensor4D, stealth: number, energy: number[][]): Promise<void> {
  for (const id of ['triggered-figure', 'diff-figure', 'dct-figure']) $(id).hidden = false;
  await draw($<HTMLCanvasElement>('triggered'), xt);
  $('stealth').textContent = stealth.toFixed(2);
  const maxDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(xt, x))).dataSync()[0]!);
  const gain = maxDiff > 0 ? Math.max(1, Math.floor(1 / maxDiff)) : 1;
  $('gain').textContent = String(gain);
  const amplified = tf.tidy(() => tf.clipByValue(tf.mul(tf.abs(tf.sub(xt, x)), gain), 0, 1) as tf.Tensor4D);
  await draw($<HTMLCanvasElement>('diff'), amplified);
  amplified.dispose();
  drawEnergy($<HTMLCanvasElement>('dct'), energy);
}

function showMasks(original: Float32Array, masks: Float32Array[], names: string[]): void {
  const row = $('masks');
  row.replaceChildren();
  for (const [name, mask] of [['segmentation of the original', original] as const, ...masks.map((m, i) => [`of the decoding: ${names[i]}`, m] as const)]) {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = SEGMENTATION_SIZE;
    const rgba = new Uint8ClampedArray(SEGMENTATION_SIZE * SEGMENTATION_SIZE * 4);
    for (let i = 0; i < mask.length; i++) {
      const v = mask[i]! > 0.5 ? 255 : 0;
      rgba.set([v, v, v, 255], i * 4);
    }
    canvas.getContext('2d')!.putImageData(new ImageData(rgba, SEGMENTATION_SIZE, SEGMENTATION_SIZE), 0, 0);
    canvas.className = 'mask';
    const figure = document.createElement('figure');
    const caption = document.createElement('figcaption');
    caption.textContent = `${name} (ISNet, foreground > 0.5)`;
    figure.append(canvas, caption);
    row.append(figure);
  }
  row.hidden = false;
}

async function showPaths(paths: { path: string; result: CodedPath }[], rows: PathResult[]): Promise<void> {
  const body = $('paths').querySelector('tbody')!;
  body.replaceChildren();
  const decoded = $('decoded');
  decoded.replaceChildren();
  for (const [i, { path, result: r }] of paths.entries()) {
    const row = body.insertRow();
    row.dataset.path = String(i);
    const { faceCosine, segMiou } = rows[i]!;
    const face = faceCosine === undefined ? '—' : faceCosine === null ? 'no face' : faceCosine.toFixed(3);
    const seg = segMiou === undefined ? '—' : segMiou.toFixed(3);
    const cells = [path, String(r.bytes.length), r.bpp.toFixed(4), r.psnr.toFixed(2), r.msSsim === null ? 'n/a' : r.msSsim.toFixed(4), face, seg, `${r.encodeSeconds.toFixed(2)} / ${r.decodeSeconds.toFixed(2)}`, r.sha256];
    for (const [k, text] of cells.entries()) {
      const cell = row.insertCell();
      cell.textContent = text;
      cell.className = ['path', 'bytes', 'bpp', 'psnr', 'ms-ssim', 'face', 'seg', 'time', 'hash'][k]!;
    }
    const figure = document.createElement('figure');
    const canvas = document.createElement('canvas');
    const caption = document.createElement('figcaption');
    caption.textContent = `${path}: ${r.bpp.toFixed(3)} bpp, ${r.psnr.toFixed(2)} dB`;
    figure.append(canvas, caption);
    decoded.append(figure);
    await draw(canvas, r.decoded);
  }
  $('outputs').hidden = false;
}

async function start(): Promise<void> {
  const engine = await initialize(base);
  $('engine').textContent = `tfjs: ${engine.tfjs}; onnxruntime-web (wasm) on ${engine.ortThreads} thread(s)${engine.isolated ? '' : ' (the page is not cross-origin isolated: one thread)'}; images up to ${MAX_MEGAPIXELS} megapixels`;
  manifest = (await (await fetch(new URL('manifest.json', base))).json()) as Manifest;
  for (const b of manifest.backdoors) codecSelect.add(new Option(b.label, `backdoor:${b.id}`));
  for (const c of manifest.codecs) codecSelect.add(new Option(c.label, `codec:${c.id}`));
  codecSelect.onchange = fillTriggers;
  fillTriggers();
  const samples = $('samples');
  if (!manifest.samples.length) samples.hidden = true;
  for (const s of manifest.samples) {
    const button = document.createElement('button');
    const name = s.split('/').pop()!;
    button.textContent = name.replace(/\.png$/, '');
    button.onclick = async () => takeFile(name, await fetchBytes(s, base, progress));
    samples.append(button);
  }
  const drop = $('drop');
  const fileInput = $<HTMLInputElement>('file');
  const take = async (file: File | undefined) => file && takeFile(file.name, new Uint8Array(await file.arrayBuffer()));
  fileInput.onchange = () => take(fileInput.files?.[0]);
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add('over');
  };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    void take(e.dataTransfer?.files[0]);
  };
  runButton.onclick = () => void run();
  const backboneStatus = $('backbones-status');
  const takeBackbones = async (files: { name: string; bytes: Uint8Array }[]) => {
    try {
      progress('loading the task backbones');
      const loaded = await loadBackbones(files, backbones);
      backbones = loaded.backbones;
      backboneStatus.textContent = loaded.report;
      progress(image ? `${image.name} ready: Run` : 'ready: drop an image or pick a sample');
    } catch (error) {
      fail(error);
    }
  };
  const backboneFiles = $<HTMLInputElement>('backbone-files');
  backboneFiles.onchange = async () => takeBackbones(await Promise.all([...(backboneFiles.files ?? [])].map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) }))));
  $('backbone-load').onclick = async () => {
    const folder = $<HTMLInputElement>('backbone-url').value.trim();
    if (!folder) return;
    try {
      const prefix = folder.endsWith('/') ? folder : `${folder}/`;
      const files = [];
      for (const m of BACKBONE_FILES) files.push({ name: m.file, bytes: await fetchBytes(new URL(m.file, new URL(prefix, base)).href, base, progress) });
      await takeBackbones(files);
    } catch (error) {
      fail(error);
    }
  };
  progress('ready: drop an image or pick a sample');
  document.body.dataset.state = 'ready';
}

start().catch(fail);
