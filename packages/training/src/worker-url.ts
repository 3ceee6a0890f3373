/** The worker thread's entry point, next to this module in dist/. */
export const workerUrl = new URL('./worker.js', import.meta.url);
