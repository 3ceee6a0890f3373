// Two test files at a time: most of these tests wait on CLI subprocesses, Redis locks and Chromium
// (the CI run used 120% of 2 cores serially); on this 2-core machine the suite took 7 min 46 s with
// two workers against 9 min 41 s one at a time (the latter beside other work).
module.exports = require('../../tooling/jest.preset.cjs')(__dirname, { maxWorkers: 2 });
