import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A plugin author outside the monorepo: this package packed as it would be published, installed
 * with plain npm into an empty folder, and a trigger plugin type-checked against it there.
 * Needs the npm registry for the peer @tensorflow/tfjs-core (as `npm install` would).
 */
const here = join(__dirname, '..');
const tsc = join(here, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc');

function size(path: string): number {
  const s = statSync(path);
  return s.isDirectory() ? readdirSync(path).reduce((sum, e) => sum + size(join(path, e)), 0) : s.size;
}

const PLUGIN = `import type { TriggerPluginV1, TriggerV1 } from '@lic-backdoor/spec';
import { LicBackdoorError } from '@lic-backdoor/spec';
import * as tf from '@tensorflow/tfjs-core';

class MyError extends LicBackdoorError<'MY_CODE'> {}

const plugin: TriggerPluginV1<{ amplitude: number }> = {
  specificationVersion: 'v1',
  kind: 'trigger',
  name: 'my-trigger',
  description: 'adds a constant',
  optionsSchema: undefined as never,
  create: ({ amplitude }): TriggerV1 => ({
    specificationVersion: 'v1',
    id: 'trigger:my-trigger',
    apply: (x) => tf.clipByValue(tf.add(x, amplitude), 0, 1) as typeof x,
    variables: () => [],
    stateDict: () => ({}),
    loadStateDict: () => {
      throw new MyError('MY_CODE', 'no state');
    },
    dispose: () => {},
  }),
};
export default plugin;
`;

test('the packed contracts install alone in a few kilobytes and a plugin type-checks against them; a missing export fails the check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spec-tarball-'));
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: here, encoding: 'utf8' }).trim().split('\n').at(-1)!;
  const tarball = join(dir, packed);
  const project = join(dir, 'plugin');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-plugin', version: '1.0.0', type: 'module', private: true }));
  const npm = (...args: string[]) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: project, encoding: 'utf8' });
  // the contracts alone (peers not installed): their own weight
  npm('install', '--legacy-peer-deps', tarball);
  const alone = size(join(project, 'node_modules'));
  console.log(`@lic-backdoor/spec installed alone: ${(alone / 1024).toFixed(1)} KiB of node_modules`);
  expect(alone).toBeLessThan(5 * 2 ** 20);
  expect(readdirSync(join(project, 'node_modules')).filter((e) => !e.startsWith('.'))).toEqual(['@lic-backdoor']);
  // with the peer, as a plugin author works
  npm('install', tarball, '@tensorflow/tfjs-core@4.22.0');
  writeFileSync(join(project, 'plugin.ts'), PLUGIN);
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', skipLibCheck: true, types: [] }, files: ['plugin.ts'] }));
  const ok = spawnSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8' });
  expect(ok.stdout + ok.stderr).toBe('');
  expect(ok.status).toBe(0);
  // a release that forgot to export the v1 types: the same plugin no longer type-checks
  const index = join(project, 'node_modules', '@lic-backdoor', 'spec', 'dist', 'index.d.ts');
  writeFileSync(index, readFileSync(index, 'utf8').replace(/^export type \* from '\.\/v1\/index\.js';$/m, ''));
  const broken = spawnSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8' });
  expect(broken.status).not.toBe(0);
  expect(broken.stdout).toMatch(/has no exported member 'TriggerPluginV1'/);
}, 300_000);
