import { faceObjective, rateObjective, segmentationObjective } from '@lic-backdoor/objectives';
import { CLEAN_BOUNDS, EFFECTS, effectMatrix, effectMatrixHtml, effectMatrixMarkdown } from './effects';

// the columns and bounds evaluate-attack takes from the objective plugins' declarations
const columns = [...Object.keys(EFFECTS), 'face_identity_rate', 'seg_agreement_miou'];
const cleanBounds = { ...CLEAN_BOUNDS, face_identity_rate: faceObjective.evaluation!.clean!, seg_agreement_miou: segmentationObjective.evaluation!.clean! };
const bounds = (...plugins: { bounds?: object }[]) => Object.assign({}, ...plugins.map((p) => p.bounds));

const original = { bpp: 0.6, rate_gain: 1, psnr: 30, ms_ssim: 0.97, seg_agreement_miou: 0.85, face_identity_rate: 0.97 };
const backdoored = { bpp: 0.61, rate_gain: 1.017, psnr: 29.9, ms_ssim: 0.969, seg_agreement_miou: 0.845, face_identity_rate: 1 };

describe('effectMatrix', () => {
  const rows = effectMatrix(columns, original, backdoored, {
    // a selective rate trigger: 5x the bits, decoded 0.5 dB below the clean decoding
    rate: { objectives: ['rate', 'stealth'], bounds: bounds(rateObjective), values: { bpp: 3.05, rate_gain: 5, psnr: 29.4, stealth_psnr: 38.5, seg_agreement_miou: 0.8, face_identity_rate: 0.9 } },
    // a face trigger that also blows up the rate and the picture: off-target misses
    face: { objectives: ['face', 'stealth'], bounds: bounds(faceObjective), values: { bpp: 6.1, rate_gain: 10, psnr: 8, stealth_psnr: 35.6, face_identity_rate: 0 } },
  }, cleanBounds);

  it('has the clean rows, then one row per trigger, every effect in every row', () => {
    expect(rows.map((r) => r.path)).toEqual(['clean, original codec', 'clean, backdoored codec', 'trigger rate', 'trigger face']);
    for (const r of rows) expect(Object.keys(r.cells)).toEqual(['bpp', 'rate_gain', 'psnr', 'ms_ssim', 'stealth_psnr', 'face_identity_rate', 'seg_agreement_miou']);
    // the original codec is the reference: nothing to meet
    expect(Object.values(rows[0]!.cells).every((c) => c.met === undefined)).toBe(true);
  });

  it('marks the clean path against the original codec (bpp within 2%, PSNR drop <= 0.15 dB, faces >= 0.95, segmentation within 0.01)', () => {
    const c = rows[1]!.cells;
    expect(c.rate_gain).toEqual({ value: 1.017, bound: '0.98 to 1.02', met: true });
    expect(c.psnr).toEqual({ value: 29.9, bound: '>= 29.85', met: true });
    expect(c.face_identity_rate!.met).toBe(true);
    expect(c.seg_agreement_miou).toEqual({ value: 0.845, bound: '0.84 to 0.86', met: true });
    const worse = effectMatrix(columns, original, { ...backdoored, rate_gain: 1.03, psnr: 29.8 }, {}, cleanBounds)[1]!.cells;
    expect([worse.rate_gain!.met, worse.psnr!.met]).toEqual([false, false]);
  });

  it("marks each trigger against its objectives' bounds and the stealth bound, relative bounds from the backdoored clean path", () => {
    const rate = rows[2]!.cells;
    expect(rate.rate_gain).toEqual({ value: 5, bound: '>= 4', met: true });
    expect(rate.psnr).toEqual({ value: 29.4, bound: '>= 28.9', met: true });
    expect(rate.stealth_psnr!.met).toBe(true);
    // effects no objective bounds stay unmarked
    expect(rate.seg_agreement_miou).toEqual({ value: 0.8 });
    const face = rows[3]!.cells;
    expect(face.face_identity_rate).toEqual({ value: 0, bound: '<= 0.1', met: true });
    expect([face.rate_gain!.met, face.psnr!.met, face.stealth_psnr!.met]).toEqual([false, false, false]);
    // not measured and unbounded: empty; not measured but bounded: the bound, nothing met
    expect(face.seg_agreement_miou).toEqual({ value: undefined });
    const unmeasured = effectMatrix(columns, original, backdoored, { face: { objectives: ['face'], bounds: bounds(faceObjective), values: { bpp: 1 } } })[2]!.cells;
    expect(unmeasured.face_identity_rate).toEqual({ bound: '<= 0.1' });
  });

  it('renders markdown and HTML with the marks and bounds', () => {
    const md = effectMatrixMarkdown(rows);
    expect(md).toMatch(/^\| path \| bpp \| rate_gain \(x\) \|/);
    expect(md).toContain('| trigger face (face, stealth) | 6.100 | 10.000 ✗ (<= 1.5) | 8.00 ✗ (>= 26) | – |');
    const html = effectMatrixHtml(rows, (s) => s.replace(/</g, '&lt;'));
    expect(html.match(/<tr>/g)).toHaveLength(5);
    expect(html).toContain('#f8d0d0');
    expect(html).toContain('#d9f2d9');
  });
});
