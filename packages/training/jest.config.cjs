const path = require('node:path');
// Worker threads run the built ESM worker (dist/worker.js), which jest's CommonJS sources cannot
// locate through import.meta: map the locator to the dist path.
module.exports = require('../../tooling/jest.preset.cjs')(__dirname, {
  moduleNameMapper: {
    '^\\./worker-url\\.js$': path.join(__dirname, 'src/__fixtures__/worker-url.cjs'),
    '^@lic-backdoor/(core|transforms|entropy|codecs|onnx|evaluators|triggers|objectives|training)$': path.join(__dirname, '../../packages/$1/src/index.ts'),
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
});
