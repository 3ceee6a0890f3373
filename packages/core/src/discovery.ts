import { InvalidPluginModuleError } from './errors.js';
import type { PluginRegistry, RegisterFunction } from './registry.js';

/**
 * Imports each plugin package and calls its exported `register(registry)`. An application finds
 * the packages among its dependencies (for example by a field of their package.json); no central
 * list of plugins exists anywhere else.
 */
export async function registerPluginPackages(
  registry: PluginRegistry,
  packages: readonly string[],
  /** Imports a package: pass `(s) => import(s)` from the application so that its dependencies resolve. */
  importer: (specifier: string) => Promise<unknown> = (s) => import(s),
): Promise<string[]> {
  const loaded: string[] = [];
  for (const name of packages) {
    let mod: { register?: unknown };
    try {
      mod = (await importer(name)) as { register?: unknown };
    } catch (cause) {
      throw new InvalidPluginModuleError(name, `cannot be imported (${(cause as Error).message})`, { cause });
    }
    if (typeof mod.register !== 'function') throw new InvalidPluginModuleError(name, 'exports no register(registry) function');
    (mod.register as RegisterFunction)(registry);
    loaded.push(name);
  }
  return loaded;
}
