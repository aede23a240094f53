/** A failure to parse or verify log material. `code` is stable; `message` is for people. */
export class TlogError extends Error {
  constructor(
    readonly code: TlogErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TlogError';
  }
}

export type TlogErrorCode =
  | 'BAD_HASH'
  | 'BAD_PROOF'
  | 'BAD_RANGE'
  | 'BAD_TILE_PATH'
  | 'BAD_ENTRY_BUNDLE'
  | 'BAD_NOTE'
  | 'BAD_KEY'
  | 'UNVERIFIED_NOTE'
  | 'BAD_CHECKPOINT'
  | 'BAD_COSIGNATURE'
  | 'QUORUM_NOT_MET';
