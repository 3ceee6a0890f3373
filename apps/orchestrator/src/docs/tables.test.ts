import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { documents, fillTables, generatedTables } from './tables.js';

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

test('fillTables replaces a block by its table and refuses an unknown one', () => {
  expect(fillTables('a\n<!-- generated:x -->\nold\n<!-- /generated -->\nb', { x: '| t |' })).toBe('a\n<!-- generated:x -->\n| t |\n<!-- /generated -->\nb');
  expect(() => fillTables('<!-- generated:y -->\n<!-- /generated -->', { x: '' })).toThrow(/unknown generated table 'y'/);
});
