const { pathToFileURL } = require('node:url');
const { join } = require('node:path');
exports.workerUrl = pathToFileURL(join(__dirname, '..', '..', 'dist', 'worker.js'));
