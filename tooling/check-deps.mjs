#!/usr/bin/env node
// Dependency check (`pnpm lint:deps [ROOT]`, run by `pnpm test` and `pnpm lint`): no import cycle between the source files of
// the workspace, no cycle between its packages, and no package importing an app. Reads the TypeScript
// sources' static imports (`import ... from`, `export ... from`, `import('...')`).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? join(dirname(new URL(import.meta.url).pathname), '..'));
const workspaces = ['packages', 'apps'].flatMap((d) => readdirSync(join(root, d)).map((n) => join(d, n))).filter((d) => existsSync(join(root, d, 'package.json')));
const byName = new Map(workspaces.map((d) => [JSON.parse(readFileSync(join(root, d, 'package.json'), 'utf8')).name, d]));

function sources(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (/\.tsx?$/.test(entry) && !/\.d\.ts$/.test(entry)) out.push(path);
  }
  return out;
}

const IMPORT = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;
const edges = new Map(); // file -> files it imports (workspace files only)
const packageEdges = new Map(); // workspace dir -> workspace dirs it imports
const problems = [];

for (const ws of workspaces) {
  const src = join(root, ws, 'src');
  if (!existsSync(src)) continue;
  for (const file of sources(src)) {
    const targets = new Set();
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (spec.startsWith('.')) {
        const base = resolve(dirname(file), spec).replace(/\.js$/, '');
        const hit = [`${base}.ts`, `${base}.tsx`, join(base, 'index.ts')].find((f) => existsSync(f));
        if (hit) targets.add(hit);
      } else {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        const target = byName.get(name);
        if (!target || target === ws) continue;
        if (target.startsWith('apps/') && !/\.test\.tsx?$/.test(file)) problems.push(`${relative(root, file)} imports the app ${name}: packages and apps may import packages only`);
        if (!/\.test\.tsx?$/.test(file)) {
          if (!packageEdges.has(ws)) packageEdges.set(ws, new Set());
          packageEdges.get(ws).add(target);
        }
      }
    }
    edges.set(file, targets);
  }
}

/** The cycles of a graph (each reported once, from its first node in sorted order). */
function cycles(graph) {
  const found = [];
  const state = new Map(); // 1: on the stack, 2: done
  const stack = [];
  const visit = (node) => {
    state.set(node, 1);
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 1) found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 2);
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

for (const c of cycles(edges)) problems.push(`import cycle: ${c.map((f) => relative(root, f)).join(' -> ')}`);
for (const c of cycles(packageEdges)) problems.push(`package cycle: ${c.join(' -> ')}`);

if (problems.length) {
  console.error(problems.join('\n'));
  console.error(`check-deps: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`check-deps: ${edges.size} source files in ${workspaces.length} workspaces, no import cycle, no package importing an app`);
