import { join } from 'node:path';
import { z } from 'zod';
import { LicBackdoorError, NoSuchPluginError } from './errors.js';
import { PluginRegistry } from './registry.js';
import type { AnyPluginFactory } from '@lic-backdoor/spec';

function factory(kind: AnyPluginFactory['kind'], name: string): AnyPluginFactory {
  return {
    specificationVersion: 'v1',
    kind,
    name,
    description: `${name} for tests`,
    optionsSchema: z.object({ quality: z.number().int().min(1).max(100).default(75), nested: z.object({ size: z.number() }).optional() }).strict(),
    create: (options: unknown) => ({ id: `${kind}:${name}`, options }),
  };
}

function registry(): PluginRegistry {
  return new PluginRegistry(__dirname).register(factory('codec', 'jpeg')).register(factory('codec', 'webp')).register(factory('trigger', 'patch'));
}

describe('PluginRegistry', () => {
  it('lists ids as kind:name, sorted, per kind', () => {
    expect(registry().ids()).toEqual(['codec:jpeg', 'codec:webp', 'trigger:patch']);
    expect(registry().ids('codec')).toEqual(['codec:jpeg', 'codec:webp']);
  });

  it('creates a plugin by name or id with schema defaults filled in', async () => {
    expect(await registry().create('codec', 'jpeg')).toEqual({ id: 'codec:jpeg', options: { quality: 75 } });
    expect(await registry().create('codec', ['codec:webp', { quality: 90 }])).toEqual({ id: 'codec:webp', options: { quality: 90 } });
  });

  it('an unknown id throws NoSuchPluginError listing the available ids of that kind', async () => {
    const error = await registry().create('codec', 'jpeg2000').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoSuchPluginError);
    expect(LicBackdoorError.isInstance(error)).toBe(true);
    expect((error as NoSuchPluginError).availableIds).toEqual(['codec:jpeg', 'codec:webp']);
    expect((error as Error).message).toContain("No plugin 'codec:jpeg2000'");
    expect((error as Error).message).toContain('codec:jpeg, codec:webp');
  });

  it('invalid options throw an error naming each bad field', async () => {
    await expect(registry().create('codec', ['jpeg', { quality: 300 }])).rejects.toThrow(/codec:jpeg.*quality: .*100/);
    await expect(registry().create('codec', ['jpeg', { nested: { size: 'big' } }])).rejects.toThrow(/nested\.size: /);
    await expect(registry().create('codec', ['jpeg', { qualty: 3 }])).rejects.toThrow(/qualty/);
  });

  it('a duplicate registration throws', () => {
    expect(() => registry().register(factory('codec', 'jpeg'))).toThrow(/already registered/);
  });

  it('loads a third-party plugin as [module, options] and validates its options', async () => {
    const instance = await registry().create('objective', ['./__fixtures__/objective-plugin.ts', { weight: 2 }]);
    expect(instance).toEqual({ id: 'objective:fixture-objective', weight: 2 });
    await expect(registry().create('objective', ['./__fixtures__/objective-plugin.ts', { weight: -1 }])).rejects.toThrow(/weight: /);
  });

  it('rejects a module whose default export is not a plugin factory, or of the wrong kind', async () => {
    await expect(registry().create('objective', ['./__fixtures__/not-a-plugin.ts', {}])).rejects.toThrow(/not a plugin factory.*specificationVersion/);
    await expect(registry().create('codec', ['./__fixtures__/objective-plugin.ts', {}])).rejects.toThrow(/objective plugin where a codec plugin is expected/);
    await expect(registry().create('codec', [join(__dirname, 'missing-module.ts'), {}])).rejects.toThrow(/cannot be imported/);
  });
});
