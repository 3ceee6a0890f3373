import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const script = join(__dirname, '..', '..', '..', 'tooling', 'check-deps.mjs');
const check = (root?: string) => spawnSync(process.execPath, root ? [script, root] : [script], { encoding: 'utf8' });

function workspace(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'check-deps-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test('the workspace has no import cycle and no package importing an app', () => {
  const r = check();
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/no import cycle, no package importing an app/);
});

test('a file cycle, a package cycle and a package importing an app are each reported', () => {
  const root = workspace({
    'packages/a/package.json': '{"name":"@x/a"}',
    'packages/a/src/one.ts': "import { two } from './two.js';\nimport { b } from '@x/b';\nexport const one = 1;",
    'packages/a/src/two.ts': "export { one } from './one.js';\nexport const two = 2;",
    'packages/b/package.json': '{"name":"@x/b"}',
    'packages/b/src/index.ts': "import { one } from '@x/a';\nimport { cli } from '@x/app';\nexport const b = 1;",
    'apps/app/package.json': '{"name":"@x/app"}',
    'apps/app/src/cli.ts': "import { b } from '@x/b';",
  });
  const r = check(root);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/import cycle: packages\/a\/src\/one\.ts -> packages\/a\/src\/two\.ts -> packages\/a\/src\/one\.ts/);
  expect(r.stderr).toMatch(/package cycle: packages\/(a|b) -> packages\/(?!\1)[ab] -> packages\/\1/);
  expect(r.stderr).toMatch(/packages\/b\/src\/index\.ts imports the app @x\/app/);
});
