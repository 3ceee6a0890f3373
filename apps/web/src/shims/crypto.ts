// node:crypto's createHash('sha256') for the bundle (codecs hash their weights into each stream's
// header), on @noble/hashes: the same digest, so streams match the CLI's byte for byte.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

export function createHash(algorithm: string) {
  if (algorithm !== 'sha256') throw new Error(`createHash('${algorithm}') is not available in the browser (sha256 only)`);
  const h = sha256.create();
  const hash = {
    update(data: string | Uint8Array) {
      h.update(typeof data === 'string' ? utf8ToBytes(data) : data);
      return hash;
    },
    digest(encoding?: 'hex') {
      const d = h.digest();
      return encoding === 'hex' ? bytesToHex(d) : d;
    },
  };
  return hash;
}
export const randomUUID = (): string => crypto.randomUUID();
