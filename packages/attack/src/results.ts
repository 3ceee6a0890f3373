import type { ResultMetric } from '@lic-backdoor/core';
import type { EffectRow } from './effects.js';

/** One trigger's means in `evaluate-attack`'s results (definitions in its `definitions`). */
export interface TriggerResult {
  objectives: string[];
  bpp: number;
  decoded_psnr: number;
  stealth_psnr: number;
  rate_gain: number;
  decoded_psnr_vs_original: number;
  decoded_ms_ssim_vs_original: number;
  original_codec_rate_gain: number;
  seg_agreement_miou?: number;
  face_identity_rate?: number;
}

/** What `evaluate-attack` writes (`resultsFile` of @lic-backdoor/core, with the effect matrix). */
export interface AttackResults {
  command: 'evaluate-attack' | 'run';
  name: string;
  description: string;
  definitions: Record<string, string>;
  clean: { original: Record<string, number>; backdoored: Record<string, number>; change: Record<string, number> };
  triggers: Record<string, TriggerResult>;
  /** the effect matrix (rows clean and each trigger, columns every effect, cells marked against their bounds) */
  effects: EffectRow[];
  /** every aggregate with value, unit and definition: `<path>.<effect>`, path `clean.original`, `clean.backdoored` or `trigger.<name>` */
  metrics: Record<string, ResultMetric>;
  /** per image: the clean path through both codecs and each trigger's measurements */
  per_image: { image: string; clean: Record<string, unknown>; triggers: Record<string, Record<string, number>> }[];
  wall_time_s: number;
  config: Record<string, unknown>;
  environment: Record<string, unknown> & { gitCommit: string; node: string };
}
