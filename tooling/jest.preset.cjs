// Shared jest preset: TypeScript sources compiled by @swc/jest to CommonJS, workspace packages
// resolved to their sources (no build needed to test), host-realm typed arrays.
const path = require('node:path');

module.exports = function jestPreset(packageDir, overrides = {}) {
  const root = path.resolve(__dirname, '..');
  return {
    rootDir: packageDir,
    testEnvironment: path.join(__dirname, 'jest-environment.cjs'),
    testMatch: ['<rootDir>/src/**/*.test.ts'],
    transform: {
      '^.+\\.(t|j)s$': [
        require.resolve('@swc/jest'),
        {
          jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
          module: { type: 'commonjs' },
        },
      ],
    },
    moduleNameMapper: {
      // Worker threads run the built ESM worker (packages/training/dist/worker.js): jest's
      // CommonJS sources cannot locate it through import.meta, so the locator is mapped.
      '^\\./worker-url\\.js$': path.join(root, 'packages/training/src/__fixtures__/worker-url.cjs'),
      '^@lic-backdoor/(spec|core|transforms|entropy|codecs|onnx|evaluators|triggers|objectives|training|attack|sweep)$':
        path.join(root, 'packages/$1/src/index.ts'),
      '^@lic-backdoor/training/trainable$': path.join(root, 'packages/training/src/trainable.ts'),
      '^(\\.{1,2}/.*)\\.js$': '$1',
    },
    testTimeout: 120000,
    ...overrides,
  };
};
