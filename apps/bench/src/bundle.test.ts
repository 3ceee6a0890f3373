import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const app = join(__dirname, '..');

describe('scripts/bundle.mjs', () => {
  it('writes a folder that runs the data-parallel benchmark with plain Node and no node_modules', () => {
    // a folder outside the workspace: nothing can resolve from a node_modules above it
    const out = mkdtempSync(join(tmpdir(), 'lic-bench-bundle-'));
    try {
      execFileSync(process.execPath, [join(app, 'scripts', 'bundle.mjs'), out], { cwd: app, stdio: 'pipe' });
      const stdout = execFileSync(process.execPath, ['cli.js', 'train-step', '--N', '8', '--M', '8', '--batch', '2', '--size', '32', '--steps', '1', '--warmup', '0', '--scaling', '1,2'], { cwd: out, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      const result = JSON.parse(stdout.trim().split('\n').pop()!) as { backend: string; scaling: { workers: number; ms_per_step: number }[] };
      expect(result.backend).toBe('wasm');
      expect(result.scaling.map((p) => p.workers)).toEqual([1, 2]);
      expect(result.scaling.every((p) => p.ms_per_step > 0)).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
