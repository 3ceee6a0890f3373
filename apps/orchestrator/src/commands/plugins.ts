import { z } from 'zod';
import { PLUGIN_KINDS, type PluginKind } from '@lic-backdoor/core';
import { loadRegistry } from '../plugins.js';

/** Each option of a plugin: name, type, default and description, from its zod schema. */
function describeOptions(schema: z.ZodType): { name: string; type: string; default?: unknown; description?: string }[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, { type?: string; enum?: unknown[]; default?: unknown; description?: string; minimum?: number; maximum?: number }>;
  };
  return Object.entries(json.properties ?? {}).map(([name, p]) => ({
    name,
    type: p.enum ? p.enum.map((e) => JSON.stringify(e)).join(' | ') : (p.type ?? 'any') + range(p.minimum, p.maximum),
    ...(p.default !== undefined ? { default: p.default } : {}),
    ...(p.description ? { description: p.description } : {}),
  }));
}

function range(min?: number, max?: number): string {
  if (min === undefined && max === undefined) return '';
  return ` [${min ?? ''}..${max ?? ''}]`;
}

/** `lic-backdoor plugins`: every registered plugin with kind, name, description and options. */
export async function plugins(options: { json?: boolean; kind?: string }): Promise<void> {
  if (options.kind && !PLUGIN_KINDS.includes(options.kind as PluginKind)) {
    throw new Error(`Unknown plugin kind '${options.kind}'. Available: ${PLUGIN_KINDS.join(', ')}`);
  }
  const registry = await loadRegistry();
  const list = registry.list(options.kind as PluginKind | undefined).map((f) => ({
    id: `${f.kind}:${f.name}`,
    kind: f.kind,
    name: f.name,
    specificationVersion: f.specificationVersion,
    description: f.description,
    options: describeOptions(f.optionsSchema),
  }));
  if (options.json) {
    console.log(JSON.stringify(list, null, 2));
    return;
  }
  for (const p of list) {
    console.log(`${p.id}  (${p.specificationVersion})\n  ${p.description}`);
    for (const o of p.options) {
      const dflt = o.default !== undefined ? ` = ${JSON.stringify(o.default)}` : '';
      console.log(`    ${o.name}: ${o.type}${dflt}${o.description ? `  ${o.description}` : ''}`);
    }
  }
  if (!list.length) console.log('(no plugins registered)');
}
