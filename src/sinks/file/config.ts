// The file sink's config keys.
import { z } from 'zod';
import { sizeIn } from '../../config/common.js';
import { sinkCommon } from '../common.js';

export const fileSinkSchema = z.strictObject({
  ...sinkCommon,
  type: z.literal('file'),
  /** NDJSON output file; missing directories are created. */
  path: z.string().min(1),
  /** Rotate when the file would grow past this size. 1KB–1TB, default 100MB. */
  max_size: sizeIn('1KB', '1TB').prefault('100MB'),
  /** Rotated files kept (`events.ndjson.1` … `.N`). 0–1000, default 5. */
  max_files: z.number().int().min(0).max(1000).default(5),
  /** fsync before a batch counts as delivered. */
  fsync: z.boolean().default(true),
});

export type FileSinkConfig = z.output<typeof fileSinkSchema>;
