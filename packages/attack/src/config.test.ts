import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { attackConfig, learningRateScale, mergeConfig, readAttackConfig, recordedConfig, relativePaths, resolvePaths, resumeConflict } from './config.js';

const base = {
  codec: { id: 'bmshj2018-factorized', weights: '/w.safetensors' },
  data: { photos: '/photos', faces: '/faces', facesPerBatch: 1 },
  clean: [['clean-rd', { lambda: 0.013 }]],
  triggers: [{ name: 'rate', trigger: 'adaptive-frequency', objectives: ['rate'] }],
  schedule: { steps: 10, batch: 2 },
};

/** What a checkpoint records: the parsed config without its steps. */
type Recorded = { data: { faceCrop?: string }; schedule: { steps?: number; batch: number } };

function recorded(config: Record<string, unknown>, edit?: (c: Recorded) => void): string {
  const parsed = JSON.parse(recordedConfig(attackConfig.parse(config))) as Recorded;
  edit?.(parsed);
  return JSON.stringify(parsed);
}

describe('resumeConflict', () => {
  it('allows more steps, and a checkpoint written before a setting with a default existed', () => {
    const now = attackConfig.parse({ ...base, schedule: { steps: 30, batch: 2 } });
    expect(resumeConflict(recorded(base), now)).toBeUndefined();
    // a checkpoint from before data.faceCrop existed (its default is 'random')
    expect(resumeConflict(recorded(base, (c) => delete c.data.faceCrop), now)).toBeUndefined();
    // paths are resolved into keys that may hold undefined, which a recorded config has not
    const photosOnly = { ...base, data: { photos: '/photos' } };
    const resolved = attackConfig.parse(photosOnly);
    expect(resumeConflict(recorded(photosOnly), { ...resolved, data: { ...resolved.data, faces: undefined } })).toBeUndefined();
  });

  it('names the first setting that differs, with both values', () => {
    const now = attackConfig.parse({ ...base, clean: [['clean-rd', { lambda: 0.025 }]] });
    expect(resumeConflict(recorded(base), now)).toBe('clean.0.1.lambda is 0.025 here but 0.013 in the checkpoint');
    const whole = attackConfig.parse({ ...base, data: { ...base.data, faceCrop: 'whole' } });
    expect(resumeConflict(recorded(base, (c) => delete c.data.faceCrop), whole)).toBe('data.faceCrop is "whole" here but "random" in the checkpoint');
  });

  it('refuses a checkpoint without a config, or with one the schema no longer accepts', () => {
    const now = attackConfig.parse(base);
    expect(resumeConflict(undefined, now)).toBe('it records no config');
    expect(resumeConflict(recorded(base, (c) => (c.schedule.batch = 0)), now)).toMatch(/^its recorded config is not valid now \(schedule\.batch: /);
  });
});

describe('learningRateScale', () => {
  it('multiplies by lrGamma once per milestone at or below the step (0-based)', () => {
    const schedule = { lrMilestones: [400, 600], lrGamma: 0.3, warmupSteps: 0 };
    expect([0, 399, 400, 599, 600, 759].map((s) => learningRateScale(schedule, s))).toEqual([1, 1, 0.3, 0.3, 0.3 ** 2, 0.3 ** 2]);
    expect(learningRateScale({ lrMilestones: [], lrGamma: 0.1, warmupSteps: 0 }, 1000)).toBe(1);
  });

  it('ramps linearly over warmupSteps (step 0 at 1/warmupSteps), then follows the milestones', () => {
    const schedule = { lrMilestones: [10], lrGamma: 0.5, warmupSteps: 4 };
    expect([0, 1, 2, 3, 9, 10].map((s) => learningRateScale(schedule, s))).toEqual([0.25, 0.5, 0.75, 1, 1, 0.5]);
  });

  it('lets a resume add or move milestones only where the steps already taken keep their rates', () => {
    const decayed = (lrMilestones: number[], lrGamma = 0.1) => attackConfig.parse({ ...base, schedule: { steps: 30, batch: 2, lrMilestones, lrGamma } });
    expect(resumeConflict(recorded(base), decayed([20, 25]), 20)).toBeUndefined();
    expect(resumeConflict(recorded(base), decayed([19]), 20)).toBe('schedule.lrMilestones is [19] here but [] in the checkpoint');
    const saved = recorded({ ...base, schedule: { steps: 30, batch: 2, lrMilestones: [5], lrGamma: 0.5 } });
    expect(resumeConflict(saved, decayed([5, 25], 0.5), 20)).toBeUndefined();
    expect(resumeConflict(saved, decayed([5], 0.1), 20)).toBe('schedule.lrGamma is 0.1 here but 0.5 in the checkpoint');
  });
});

describe('init', () => {
  it('resolves against the config folder and is recorded relative to the output folder', () => {
    const config = resolvePaths(attackConfig.parse({ ...base, init: '../runs/a' }), '/p/configs');
    expect(config.init).toBe('/p/runs/a');
    expect(relativePaths(config, '/p/runs/b').init).toBe('../a');
    expect(resolvePaths(attackConfig.parse(base), '/p/configs').init).toBeUndefined();
  });
});

describe('extends', () => {
  const folder = mkdtempSync(join(tmpdir(), 'extends-'));
  const write = (name: string, c: Record<string, unknown>) => {
    writeFileSync(join(folder, name), stringify(c));
    return join(folder, name);
  };

  it('merges objects key by key and replaces lists and values, through a chain of files', async () => {
    write('a.yaml', { ...base, codec: { id: 'bmshj2018-factorized', weights: 'w.safetensors' }, weighting: { mode: 'fixed', base: { 'rate.rate': 2, 'clean.clean-rd': 3 } } });
    write('b.yaml', { extends: 'a.yaml', name: 'b', schedule: { steps: 40 }, weighting: { base: { 'rate.rate': 5 } } });
    const c = await readAttackConfig(write('c.yaml', { extends: 'b.yaml', name: 'c', clean: [['clean-rd', { lambda: 0.05 }]] }));
    expect(c.name).toBe('c');
    expect(c.schedule.steps).toBe(40);
    expect(c.schedule.batch).toBe(2);
    expect(c.weighting.base).toEqual({ 'rate.rate': 5, 'clean.clean-rd': 3 });
    expect(c.clean).toEqual([['clean-rd', { lambda: 0.05 }]]);
    expect(c.triggers.map((t) => t.name)).toEqual(['rate']);
    expect(c.codec.weights).toBe(join(folder, 'w.safetensors'));
  });

  it('refuses a base in another folder, a cycle, and a base that cannot be read', async () => {
    mkdirSync(join(folder, 'sub'), { recursive: true });
    write('sub/base.yaml', base);
    await expect(readAttackConfig(write('d.yaml', { extends: 'sub/base.yaml' }))).rejects.toThrow(/extends: sub\/base\.yaml is not in this file's folder/);
    write('e.yaml', { extends: 'f.yaml' });
    await expect(readAttackConfig(write('f.yaml', { extends: 'e.yaml' }))).rejects.toThrow(/extends: cycle: .*f\.yaml -> .*e\.yaml -> .*f\.yaml/);
    await expect(readAttackConfig(write('g.yaml', { extends: 'missing.yaml' }))).rejects.toThrow(/g\.yaml: extends .*missing\.yaml, which cannot be read/);
  });

  it('mergeConfig: a value that is not an object on either side replaces', () => {
    expect(mergeConfig({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } })).toEqual({ a: { b: 1, c: [3] } });
    expect(mergeConfig({ a: { b: 1 } }, { a: null })).toEqual({ a: null });
    expect(mergeConfig([1], { a: 1 })).toEqual({ a: 1 });
  });
});

test("an attack name is one path element: '../' and '/' are refused where the config is parsed", () => {
  for (const name of ['../up', 'a/b', 'Upper', '']) expect(attackConfig.safeParse({ ...base, name }).success).toBe(false);
  expect(attackConfig.parse({ ...base, name: 'selective-4triggers-mbt' }).name).toBe('selective-4triggers-mbt');
});
