import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const shim = (name: string) => fileURLToPath(new URL(`./src/shims/${name}.ts`, import.meta.url));
// one onnxruntime-web for the page and for @lic-backdoor/onnx (which imports onnxruntime-node)
const ortWeb = fileURLToPath(new URL('./node_modules/onnxruntime-web/dist/ort.bundle.min.mjs', import.meta.url));

// Cross-origin isolation lets onnxruntime-web and tfjs-wasm use threads (SharedArrayBuffer);
// without these headers (a plain static host) the page still works, on one thread.
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  base: './',
  resolve: {
    alias: [
      { find: /^onnxruntime-(node|web)$/, replacement: ortWeb },
      { find: 'node:crypto', replacement: shim('crypto') },
      { find: 'node:path', replacement: shim('path') },
      // sharp decodes images for the CLI, tar unpacks downloaded backbones (onnx's fetchModel): the page does neither
      { find: /^(node:(fs|fs\/promises|os|child_process|util|module)|sharp|tar)$/, replacement: shim('node') },
    ],
  },
  define: { 'process.env': '{}' },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 8000,
    // the packages' barrels also export their Node-only parts (training threads, model downloads),
    // which the page never calls: names they import from Node's modules resolve to undefined
    rolldownOptions: {
      shimMissingExports: true,
      // onnxruntime-web starts its threads' workers from its own module's URL: its own chunk
      output: { advancedChunks: { groups: [{ name: 'ort', test: /onnxruntime-web/ }] } },
    },
  },
  server: { headers: isolation },
  preview: { headers: isolation },
});
