// The file sink kind: NDJSON lines (or CEF/LEEF lines), rotated by size, fsynced before a batch counts as delivered.
import type { SinkKind } from '../common.js';
import type { FileSinkConfig } from './config.js';
import { FileSink } from './sink.js';

export { fileSinkSchema, type FileSinkConfig } from './config.js';

export const fileSink: SinkKind<FileSinkConfig> = {
  type: 'file',
  create: (cfg, ctx) => new FileSink(cfg, ctx.logger),
};
