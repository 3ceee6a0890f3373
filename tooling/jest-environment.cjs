// A node test environment whose globals share the host realm's typed-array and buffer
// constructors. onnxruntime-node and tfjs check `x instanceof Float32Array`; jest's default
// sandbox gives each test file its own realm, and those checks then fail across realms.
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Uint8Array', 'Uint8ClampedArray', 'Int8Array',
  'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array',
  'BigInt64Array', 'BigUint64Array', 'Buffer', 'WebAssembly',
];

class HostRealmEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = HostRealmEnvironment;
