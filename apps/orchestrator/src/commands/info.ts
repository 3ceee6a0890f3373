import { cpus, totalmem } from 'node:os';
import sharp from 'sharp';
import { initializeBackend, type BackendName } from '@lic-backdoor/core';
import { pluginPackages } from '../plugins.js';

/** `lic-backdoor info`: which tfjs backend is used and why, and the versions that matter. */
export async function info(options: { json?: boolean; backend?: BackendName }): Promise<void> {
  const report = await initializeBackend({ prefer: options.backend });
  const out = {
    backend: report,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    sharp: sharp.versions.sharp,
    libvips: sharp.versions.vips,
    pluginPackages: await pluginPackages(),
  };
  if (options.json) {
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  console.log(`backend        ${report.backend} (${report.package}, tfjs ${report.tfjsVersion})`);
  for (const s of report.skipped) console.log(`  skipped      ${s.backend}: ${s.reason}`);
  console.log(`fast kernels   ${report.fastKernels.join(', ') || '(none)'}`);
  console.log(`node           ${out.node} on ${out.platform}, ${out.cpus} cores, ${out.memoryGiB} GiB`);
  console.log(`sharp          ${out.sharp} (libvips ${out.libvips})`);
  console.log(`plugins from   ${out.pluginPackages.join(', ')}`);
}
