import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
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

/**
 * `pluginPackages` as specifiers that import from anywhere (file URLs resolved from this app), for
 * the attack library and its worker threads, which cannot resolve this app's dependencies.
 */
export async function pluginModules(): Promise<string[]> {
  return (await pluginPackages()).map((name) => {
    try {
      return pathToFileURL(require.resolve(name)).href;
    } catch {
      return name; // left for the importer to explain
    }
  });
}

/** A registry holding every plugin of every plugin package found by `pluginPackages`. */
export async function loadRegistry(baseDir = process.cwd()): Promise<PluginRegistry> {
  const registry = new PluginRegistry(baseDir);
  await registerPluginPackages(registry, await pluginPackages(), (s) => import(s));
  return registry;
}
