import { PluginRegistry, registerPluginPackages } from '@lic-backdoor/core';

/** How the caller builds its plugin registry, plugin modules named by a config resolving from `baseDir` (the config's folder). */
export type RegistryFactory = (baseDir: string) => Promise<PluginRegistry>;

/**
 * A registry holding the plugins of `plugins`, module specifiers that import from anywhere (the
 * application resolves its plugin packages to file URLs: this package cannot see its dependencies);
 * plugin modules that configs name resolve from `baseDir`.
 */
export async function pluginRegistry(plugins: readonly string[], baseDir: string): Promise<PluginRegistry> {
  const registry = new PluginRegistry(baseDir);
  await registerPluginPackages(registry, plugins);
  return registry;
}
