import type { Migration } from 'kysely';
import * as m0001 from './0001_log.js';
import * as m0002 from './0002_workers.js';
import * as m0003 from './0003_cosignatures.js';
import * as m0004 from './0004_append_only_cosignatures.js';
import * as m0005 from './0005_packed_append.js';

/** Every migration, in order. Names sort as they run. */
export const migrations: Record<string, Migration> = {
  '0001_log': m0001,
  '0002_workers': m0002,
  '0003_cosignatures': m0003,
  '0004_append_only_cosignatures': m0004,
  '0005_packed_append': m0005,
};
