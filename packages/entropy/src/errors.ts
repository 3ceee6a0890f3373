import { LicBackdoorError } from '@lic-backdoor/core';

/** Error codes of this package. */
export type EntropyErrorCode = 'BITSTREAM';

/** A bitstream that cannot be decoded: damaged, truncated, or written for other weights. */
export class BitstreamError extends LicBackdoorError<EntropyErrorCode> {
  constructor(message: string) {
    super('BITSTREAM', message);
  }
}
