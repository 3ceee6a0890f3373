import type { ZodType } from 'zod';

/** The five kinds of plugin the registry knows. */
export type PluginKind = 'transform' | 'codec' | 'trigger' | 'objective' | 'evaluator';

/** `kind:name`, for example `codec:bmshj2018-factorized` or `trigger:adaptive-frequency`. */
export type PluginId = `${PluginKind}:${string}`;

/**
 * What a plugin's `create` receives besides its options.
 */
export interface PluginContext {
  /**
   * Seed for everything random inside the plugin instance (weight initialisation, noise).
   * Runs record it; the same seed must give the same instance.
   */
  seed: number;
  /**
   * Directory against which relative paths in the options (weights, data) are resolved.
   * Usually the directory of the config file, or the working directory.
   */
  baseDir: string;
  /**
   * The registry the plugin was created from, so that a plugin can create the plugins it is
   * built on (a trigger that uses `transform:block-dct`, an objective that uses an evaluator).
   */
  registry: PluginRegistryLike;
}

/** The part of the registry a plugin may use while it is being created. */
export interface PluginRegistryLike {
  /** Creates a registered plugin of `kind` from a reference (see `PluginReference`). */
  create<K extends PluginKind>(kind: K, reference: PluginReference, context?: Partial<PluginContext>): Promise<unknown>;
}

/**
 * How a config names a plugin:
 * - `'name'` or `'kind:name'`: a registered plugin with its default options;
 * - `[nameOrModule, options]`: a registered plugin with these options, or, when no plugin of that
 *   name is registered, a module specifier (package name or path) whose default export is a
 *   plugin factory, loaded by dynamic `import()`.
 */
export type PluginReference = string | readonly [string, unknown];

/**
 * Everything a plugin factory has, whatever its kind. A factory is what a plugin module's
 * default export must be, and what `register(registry)` functions register.
 *
 * @typeParam K - the plugin kind.
 * @typeParam Options - the parsed options type (the output of `optionsSchema`).
 * @typeParam Instance - what `create` returns: the contract of that kind.
 */
export interface PluginFactoryV1<K extends PluginKind, Options, Instance> {
  /**
   * Version of the plugin contract this factory implements. Old versions keep their own folder
   * under `spec/`, so a plugin written for `v1` keeps working after `v2` arrives.
   */
  readonly specificationVersion: 'v1';
  /** Which contract `create` returns. */
  readonly kind: K;
  /**
   * Short name in the field's words, unique within its kind: lower case, digits and `-`
   * (`bmshj2018-factorized`, `adaptive-frequency`). The plugin's id is `kind:name`.
   */
  readonly name: string;
  /** One sentence shown by `lic-backdoor plugins`. */
  readonly description: string;
  /**
   * zod schema of the options. Parsed before `create` is called: defaults are filled in, and a
   * failure becomes an `InvalidPluginOptionsError` naming the path of each bad field. Use
   * `z.object({...}).strict()` so that misspelt options are rejected.
   */
  readonly optionsSchema: ZodType<Options>;
  /**
   * Builds an instance from parsed options. May be async (weights to load, models to fetch).
   * Must not mutate global state beyond the tensor engine's memory.
   */
  create(options: Options, context: PluginContext): Instance | Promise<Instance>;
}

/** Any plugin factory. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyPluginFactory = PluginFactoryV1<PluginKind, any, unknown>;
