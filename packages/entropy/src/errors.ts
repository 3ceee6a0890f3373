import { LicBackdoorError } from '@lic-backdoor/core';

/** A bitstream that cannot be decoded: damaged, truncated, or written for other weights. */
export class BitstreamError extends LicBackdoorError {
  constructor(message: string) {
    super('SAFETENSORS', message);
  }
}
