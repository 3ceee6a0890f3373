import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { resultsFile } from '@lic-backdoor/core';
import { SCHEMA_FILE, documents, fillTables, generatedTables, schemaText } from './tables.js';

const root = join(__dirname, '..', '..', '..', '..');

test("the result tables of README.md and docs/ are the committed results' (pnpm docs:tables rewrites them)", () => {
  const tables = generatedTables(root);
  let blocks = 0;
  for (const doc of documents(root)) {
    const text = readFileSync(join(root, doc), 'utf8');
    blocks += (text.match(/<!-- generated:/g) ?? []).length;
    expect({ doc, text: fillTables(text, tables) }).toEqual({ doc, text });
  }
  expect(blocks).toBeGreaterThanOrEqual(2);
  // every committed codec folder with Kodak results is a row; each backdoor with an effect matrix a table
  expect(tables.codecs!.split('\n').length).toBeGreaterThan(4);
  expect(tables.backdoors).toMatch(/models\/attacks\/mbt-4triggers-ft6/);
});

test('every committed model folder has a card (README.md)', () => {
  const cards = documents(root).filter((d) => d.startsWith('models'));
  for (const kind of ['training', 'attacks']) {
    for (const name of readdirSync(join(root, 'models', kind))) expect(cards).toContain(join('models', kind, name, 'README.md'));
  }
  expect(existsSync(join(root, 'models', 'codecs', 'README.md'))).toBe(true);
});

test('docs/results.schema.json is the JSON Schema of resultsFile (pnpm docs:tables writes it)', () => {
  expect(readFileSync(join(root, SCHEMA_FILE), 'utf8')).toBe(schemaText());
});

test('the committed evaluate-attack results have the shared results shape', () => {
  for (const name of readdirSync(join(root, 'models', 'attacks'))) {
    const text = readFileSync(join(root, 'models', 'attacks', name, 'kodak.json'), 'utf8');
    const results = JSON.parse(text) as { command?: string };
    // factorized-4triggers was evaluated by an earlier version (its kodak.md says so)
    if (results.command) expect(resultsFile.safeParse(results).success).toBe(true);
  }
});

test('fillTables replaces a block by its table and refuses an unknown one', () => {
  expect(fillTables('a\n<!-- generated:x -->\nold\n<!-- /generated -->\nb', { x: '| t |' })).toBe('a\n<!-- generated:x -->\n| t |\n<!-- /generated -->\nb');
  expect(() => fillTables('<!-- generated:y -->\n<!-- /generated -->', { x: '' })).toThrow(/unknown generated table 'y'/);
});
