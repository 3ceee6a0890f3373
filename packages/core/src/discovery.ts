import { InvalidPluginModuleError } from './errors.js';
import type { PluginRegistry, RegisterFunction } from './registry.js';

/**
 * Imports each plugin package and calls its exported `register(registry)`. An application lists
 * the packages it depends on (for example from its package.json); no central list of plugins
 * exists anywhere else.
 */
export async function registerPluginPackages(registry: PluginRegistry, packages: readonly string[]): Promise<string[]> {
  const loaded: string[] = [];
  for (const name of packages) {
    let mod: { register?: unknown };
    try {
      mod = (await import(name)) as { register?: unknown };
    } catch (cause) {
      throw new InvalidPluginModuleError(name, `cannot be imported (${(cause as Error).message})`, { cause });
    }
    if (typeof mod.register !== 'function') throw new InvalidPluginModuleError(name, 'exports no register(registry) function');
    (mod.register as RegisterFunction)(registry);
    loaded.push(name);
  }
  return loaded;
}
