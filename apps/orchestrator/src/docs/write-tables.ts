// `pnpm docs:tables [ROOT]`: rewrites the generated result tables of README.md and docs/*.md from models/*/*/kodak.json.
import { writeTables } from './tables.js';

const changed = writeTables(process.argv[2] ?? process.cwd());
console.log(changed.length ? `rewrote the generated tables of ${changed.join(', ')}` : 'generated tables are up to date');
