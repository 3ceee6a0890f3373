import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import type { BackendReport } from '@lic-backdoor/core';

/** What every run records about where it ran: git commit, backend, machine, Node. */
export interface RunEnvironment {
  gitCommit: string;
  gitDirty: boolean;
  backend: BackendReport;
  node: string;
  platform: string;
  cpus: number;
  memoryGiB: number;
  startedAt: string;
}

export function runEnvironment(backend: BackendReport): RunEnvironment {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  return {
    gitCommit: git('rev-parse', 'HEAD') || 'unknown',
    gitDirty: git('status', '--porcelain', '--untracked-files=no') !== '',
    backend,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    startedAt: new Date().toISOString(),
  };
}
