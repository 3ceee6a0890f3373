/**
 * mIoU of two binary masks (values > threshold are foreground) over the classes foreground and
 * background; a class absent from both masks counts 1.
 */
export function binaryMiou(a: ArrayLike<number>, b: ArrayLike<number>, threshold = 0.5): number {
  let [fgI, fgU, bgI, bgU] = [0, 0, 0, 0];
  for (let i = 0; i < a.length; i++) {
    const p = a[i]! > threshold;
    const q = b[i]! > threshold;
    if (p && q) fgI++;
    if (p || q) fgU++;
    if (!p && !q) bgI++;
    if (!p || !q) bgU++;
  }
  return ((fgU ? fgI / fgU : 1) + (bgU ? bgI / bgU : 1)) / 2;
}
