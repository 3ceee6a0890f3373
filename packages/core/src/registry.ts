import { z } from 'zod';
import {
  DuplicatePluginError,
  InvalidPluginModuleError,
  InvalidPluginOptionsError,
  NoSuchPluginError,
} from './errors.js';
import type {
  AnyPluginFactory,
  PluginContext,
  PluginKind,
  PluginReference,
  PluginRegistryLike,
} from '@lic-backdoor/spec';
import type { CodecV1, EvaluatorV1, ObjectiveV1, TransformV1, TriggerV1 } from '@lic-backdoor/spec';

/** The contract `create` returns for each kind. */
export interface PluginInstances {
  transform: TransformV1;
  codec: CodecV1;
  trigger: TriggerV1;
  objective: ObjectiveV1;
  evaluator: EvaluatorV1;
}

export const PLUGIN_KINDS: readonly PluginKind[] = ['transform', 'codec', 'trigger', 'objective', 'evaluator'];

const NAME = /^[a-z0-9][a-z0-9-]*$/;

const factoryShape = z.object({
  specificationVersion: z.literal('v1'),
  kind: z.enum(['transform', 'codec', 'trigger', 'objective', 'evaluator']),
  name: z.string().regex(NAME, 'lower case letters, digits and -'),
  description: z.string(),
  optionsSchema: z.custom<z.ZodType>((v) => typeof (v as { safeParse?: unknown })?.safeParse === 'function', {
    message: 'must be a zod schema',
  }),
  create: z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', { message: 'must be a function' }),
});

function formatIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

/** A function a plugin package exports to add its plugins to a registry. */
export type RegisterFunction = (registry: PluginRegistry) => void;

/**
 * Holds plugin factories by `kind:name` and creates plugin instances from config references.
 */
export class PluginRegistry implements PluginRegistryLike {
  readonly #factories = new Map<string, AnyPluginFactory>();

  constructor(readonly baseDir: string = process.cwd()) {}

  register(factory: AnyPluginFactory): this {
    const parsed = factoryShape.safeParse(factory);
    if (!parsed.success) {
      throw new InvalidPluginModuleError(String((factory as { name?: unknown })?.name ?? '?'), describe(parsed.error));
    }
    const id = `${factory.kind}:${factory.name}`;
    if (this.#factories.has(id)) throw new DuplicatePluginError(id);
    this.#factories.set(id, factory);
    return this;
  }

  /** Every registered id, sorted, optionally of one kind. */
  ids(kind?: PluginKind): string[] {
    return [...this.#factories.keys()].filter((id) => !kind || id.startsWith(`${kind}:`)).sort();
  }

  /** Every registered factory, sorted by id, optionally of one kind. */
  list(kind?: PluginKind): AnyPluginFactory[] {
    return this.ids(kind).map((id) => this.#factories.get(id)!);
  }

  has(kind: PluginKind, nameOrId: string): boolean {
    return this.#factories.has(toId(kind, nameOrId));
  }

  /** The factory of `kind:name` (or `name` within `kind`); throws `NoSuchPluginError` listing ids. */
  get(kind: PluginKind, nameOrId: string): AnyPluginFactory {
    const id = toId(kind, nameOrId);
    const factory = this.#factories.get(id);
    if (!factory) throw new NoSuchPluginError(id, this.ids(kind));
    return factory;
  }

  /**
   * Resolves a reference to a factory and raw options: a registered name or id, or a module
   * specifier whose default export is a plugin factory of `kind`.
   */
  async resolve(kind: PluginKind, reference: PluginReference): Promise<{ factory: AnyPluginFactory; options: unknown }> {
    const [target, options] = typeof reference === 'string' ? [reference, {}] : reference;
    if (this.has(kind, target) || !looksLikeModule(target)) return { factory: this.get(kind, target), options };
    return { factory: await loadPluginModule(kind, target, this.baseDir), options };
  }

  /** Resolves a reference, validates its options with the plugin's schema, and creates it. */
  async create<K extends PluginKind>(
    kind: K,
    reference: PluginReference,
    context: Partial<PluginContext> = {},
  ): Promise<PluginInstances[K]> {
    const { factory, options } = await this.resolve(kind, reference);
    const parsed = this.parseOptions(factory, options);
    const full: PluginContext = { seed: 0, baseDir: this.baseDir, registry: this, ...context };
    return (await factory.create(parsed, full)) as PluginInstances[K];
  }

  /** Validates raw options against a factory's schema; throws `InvalidPluginOptionsError`. */
  parseOptions(factory: AnyPluginFactory, options: unknown): unknown {
    const result = factory.optionsSchema.safeParse(options ?? {});
    if (!result.success) throw new InvalidPluginOptionsError(`${factory.kind}:${factory.name}`, formatIssues(result.error));
    return result.data;
  }
}

function toId(kind: PluginKind, nameOrId: string): string {
  return nameOrId.startsWith(`${kind}:`) ? nameOrId : `${kind}:${nameOrId}`;
}

function looksLikeModule(specifier: string): boolean {
  return /^(\.{1,2}\/|\/|@|file:)/.test(specifier) || /\.(m?js|cjs|ts)$/.test(specifier) || specifier.includes('/');
}

function describe(error: z.ZodError): string {
  return formatIssues(error)
    .map((i) => `${i.path || '(export)'}: ${i.message}`)
    .join('; ');
}

/** A package specifier resolved from the first of `dirs` where Node finds it (else left to `import`). */
async function resolvePackage(specifier: string, dirs: string[]): Promise<string> {
  const { createRequire } = await import('node:module');
  const { join } = await import('node:path');
  for (const dir of dirs) {
    try {
      return createRequire(join(dir, 'noop.js')).resolve(specifier);
    } catch {
      // not installed there
    }
  }
  return specifier;
}

async function loadPluginModule(kind: PluginKind, specifier: string, baseDir: string): Promise<AnyPluginFactory> {
  const { isAbsolute, resolve } = await import('node:path');
  // An absolute path (not a file: URL) imports under native ESM on POSIX and under CommonJS alike.
  const target = /^\.{1,2}\//.test(specifier) || isAbsolute(specifier) ? resolve(baseDir, specifier) : await resolvePackage(specifier, [baseDir, process.cwd()]);
  let mod: { default?: unknown };
  try {
    mod = (await import(target)) as { default?: unknown };
  } catch (cause) {
    throw new InvalidPluginModuleError(specifier, `cannot be imported (${(cause as Error).message})`, { cause });
  }
  const candidate = mod.default && typeof mod.default === 'object' && 'default' in mod.default ? (mod.default as { default: unknown }).default : mod.default;
  if (candidate === undefined) throw new InvalidPluginModuleError(specifier, 'has no default export; it must default-export a plugin factory');
  const parsed = factoryShape.safeParse(candidate);
  if (!parsed.success) throw new InvalidPluginModuleError(specifier, `default export is not a plugin factory: ${describe(parsed.error)}`);
  const factory = candidate as AnyPluginFactory;
  if (factory.kind !== kind) throw new InvalidPluginModuleError(specifier, `exports a ${factory.kind} plugin where a ${kind} plugin is expected`);
  return factory;
}
