// A small conv autoencoder trainable, CommonJS so that jest (main thread) and worker threads
// (native import) load the same file. Options: { seed, N, fault?: { kind, step }, constants? }.
const tf = require('@tensorflow/tfjs-core');
const { isMainThread } = require('node:worker_threads');

function perExampleNoise(shape, seeds) {
  return tf.concat(seeds.map((s) => tf.randomUniform([1, ...shape.slice(1)], -0.5, 0.5, 'float32', s)), 0);
}

exports.createTrainable = function createTrainable(options) {
  const { seed, N = 8, fault } = options;
  let k = 0;
  const init = (shape, scale) => tf.variable(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed * 1000 + k++), scale));
  const w = [init([5, 5, 3, N], 0.1), init([5, 5, N, N], 0.05), init([5, 5, N, N], 0.05), init([5, 5, 3, N], 0.05)];
  const b = [tf.variable(tf.zeros([N])), tf.variable(tf.zeros([N])), tf.variable(tf.zeros([N])), tf.variable(tf.zeros([3]))];
  const scale = init([N], 1);
  return {
    groups: {
      main: {
        variables: [...w, ...b],
        loss: ({ x, seeds, step, sources, context, constants }) => {
          if (fault && fault.kind === 'throw-main' && isMainThread && step === fault.step) throw new Error('injected main-thread failure');
          if (fault && !isMainThread && step === fault.step) {
            if (fault.kind === 'throw') throw new Error('injected failure');
            if (fault.kind === 'hang') for (;;);
            if (fault.kind === 'exit') process.exit(3);
          }
          const [n, h, wd] = x.shape;
          let y = tf.relu(tf.add(tf.conv2d(x, w[0], 2, 2), b[0]));
          y = tf.add(tf.conv2d(y, w[1], 2, 2), b[1]);
          y = tf.add(y, perExampleNoise(y.shape, seeds));
          let z = tf.relu(tf.add(tf.conv2dTranspose(y, w[2], [n, h / 2, wd / 2, N], 2, 2), b[2]));
          z = tf.add(tf.conv2dTranspose(z, w[3], [n, h, wd, 3], 2, 2), b[3]);
          const mse = tf.mean(tf.square(tf.sub(z, x)));
          const faces = sources ? sources.filter((s) => s === 'faces').length / sources.length : 0;
          const echo = { faceShare: tf.scalar(faces), context: tf.scalar(context ? context.k : 0), constantMean: constants ? constants.mean : tf.scalar(-1) };
          // reported only by shards that hold a photo (as an objective scoring one data source)
          if (sources && sources.includes('photos')) echo.photoMetric = tf.scalar(2);
          return { loss: mse, metrics: { mse, latentAbs: tf.mean(tf.abs(y)), ...echo } };
        },
      },
      aux: { variables: [scale], loss: () => tf.mean(tf.square(tf.sub(scale, 1))) },
    },
    constants: options.constants ? ({ x }) => ({ mean: tf.mean(x) }) : undefined,
  };
};
