import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { PluginRegistry, registerPluginPackages } from '@lic-backdoor/core';

const require = createRequire(import.meta.url);

/**
 * Plugin packages this app depends on: every dependency whose package.json says
 * `"lic-backdoor": { "plugins": true }`, plus any modules named in `LIC_BACKDOOR_PLUGINS`
 * (comma-separated), each exporting `register(registry)`.
 */
export async function pluginPackages(): Promise<string[]> {
  const own = JSON.parse(await readFile(require.resolve('../package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const found: string[] = [];
  for (const name of Object.keys(own.dependencies ?? {})) {
    try {
      const manifest = JSON.parse(await readFile(require.resolve(`${name}/package.json`), 'utf8')) as { 'lic-backdoor'?: { plugins?: boolean } };
      if (manifest['lic-backdoor']?.plugins) found.push(name);
    } catch {
      // a dependency without an exported package.json is not a plugin package
    }
  }
  const extra = (process.env.LIC_BACKDOOR_PLUGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return [...found.sort(), ...extra];
}

/** A registry holding every plugin of every plugin package found by `pluginPackages`. */
export async function loadRegistry(baseDir = process.cwd()): Promise<PluginRegistry> {
  const registry = new PluginRegistry(baseDir);
  await registerPluginPackages(registry, await pluginPackages(), (s) => import(s));
  return registry;
}
