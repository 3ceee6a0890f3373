import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { effectMatrixMarkdown, type EffectRow } from '@lic-backdoor/attack';
import { resultsJsonSchema } from '@lic-backdoor/core';

/**
 * Result tables in README.md and docs/*.md are generated from the committed results JSON
 * (models/<kind>/<name>/kodak.json): each lies between `<!-- generated:NAME -->` and
 * `<!-- /generated -->`. `pnpm docs:tables` rewrites them; a test fails when they disagree.
 */
export function documents(root: string): string[] {
  const cards = ['training', 'attacks'].flatMap((kind) => folders(join(root, 'models', kind)).map((name) => join('models', kind, name, 'README.md')));
  return ['README.md', ...['cli', 'results', 'reproducing'].map((d) => join('docs', `${d}.md`)), ...cards].filter((f) => existsSync(join(root, f)));
}

const folders = (dir: string) => (existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort() : []);
const fixed = (v: number | undefined, digits: number) => (v === undefined ? '' : v.toFixed(digits));

/** Header of the codec tables: weights shipped or not, and the Kodak rate-distortion point (`eval` results). */
const CODEC_HEADER = ['| folder | codec | weights shipped | Kodak bpp | PSNR (dB) | MS-SSIM |', '| --- | --- | --- | --- | --- | --- |'];

/** A codec folder's row (its `eval` results on Kodak), or undefined without results. */
function codecRow(root: string, name: string): string | undefined {
  const dir = join(root, 'models', 'training', name);
  const file = join(dir, 'kodak.json');
  if (!existsSync(file)) return undefined;
  const r = JSON.parse(readFileSync(file, 'utf8')) as { name: string; results: Record<string, number[]> };
  const shipped = existsSync(join(dir, 'model.safetensors')) ? 'yes' : 'no (config, log, results)';
  return `| \`${name}\` | ${r.name} | ${shipped} | ${fixed(r.results.bpp?.[0], 3)} | ${fixed(r.results['psnr-rgb']?.[0], 2)} | ${fixed(r.results['ms-ssim-rgb']?.[0], 4)} |`;
}

/** A backdoor folder's effect matrix on Kodak, or undefined when it was evaluated without one. */
function backdoorTable(root: string, name: string): string | undefined {
  const file = join(root, 'models', 'attacks', name, 'kodak.json');
  if (!existsSync(file)) return undefined;
  const r = JSON.parse(readFileSync(file, 'utf8')) as { effects?: EffectRow[]; description: string };
  if (!r.effects) return undefined;
  // the description names the absolute folder it ran on: keep what it measured
  const what = r.description.replace(/ of \/\S+/g, '').replace(/^backdoor of /, '');
  return `\`models/attacks/${name}\` (${what}):\n\n${effectMatrixMarkdown(r.effects).trimEnd()}`;
}

/** Every generated table by name: `codecs`, `backdoors`, and one per model folder (`training/NAME`, `attacks/NAME`) for its card. */
export function generatedTables(root: string): Record<string, string> {
  const tables: Record<string, string> = {};
  const rows: string[] = [];
  const matrices: string[] = [];
  for (const name of folders(join(root, 'models', 'training'))) {
    const row = codecRow(root, name);
    if (!row) continue;
    tables[`training/${name}`] = [...CODEC_HEADER, row].join('\n');
    rows.push(row);
  }
  tables.codecs = [...CODEC_HEADER, ...rows].join('\n');
  for (const name of folders(join(root, 'models', 'attacks'))) {
    const table = backdoorTable(root, name);
    if (!table) continue;
    tables[`attacks/${name}`] = table;
    matrices.push(table);
  }
  tables.backdoors = matrices.join('\n\n');
  return tables;
}

const BLOCK = /(<!-- generated:([a-z0-9/-]+) -->\n)([\s\S]*?)(<!-- \/generated -->)/g;

/** `text` with each generated block replaced by its table; an unknown block name is an error. */
export function fillTables(text: string, tables: Record<string, string>): string {
  return text.replace(BLOCK, (_, open: string, name: string, _old: string, close: string) => {
    const table = tables[name];
    if (table === undefined) throw new Error(`unknown generated table '${name}' (known: ${Object.keys(tables).join(', ')})`);
    return `${open}${table}\n${close}`;
  });
}

/** docs/results.schema.json: the JSON Schema every results.json follows (`resultsFile` of @lic-backdoor/core). */
export const SCHEMA_FILE = join('docs', 'results.schema.json');
export const schemaText = () => `${JSON.stringify(resultsJsonSchema(), null, 2)}\n`;

/** Rewrites the generated tables of every document under `root`, and the results schema; returns the files that changed. */
export function writeTables(root: string): string[] {
  const tables = generatedTables(root);
  const changed: string[] = [];
  const schema = join(root, SCHEMA_FILE);
  if (!existsSync(schema) || readFileSync(schema, 'utf8') !== schemaText()) {
    writeFileSync(schema, schemaText());
    changed.push(SCHEMA_FILE);
  }
  for (const doc of documents(root)) {
    const file = join(root, doc);
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    const filled = fillTables(text, tables);
    if (filled !== text) {
      writeFileSync(file, filled);
      changed.push(doc);
    }
  }
  return changed;
}
