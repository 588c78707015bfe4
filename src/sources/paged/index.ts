// The time-window source kinds (TTP, audit, DLP, held release, archive search): one per stream, same schema.
import type { SourceKind } from '../common.js';
import { pagedStreamSchema } from './config.js';
import { PagedSource } from './source.js';
import { PAGED_SPECS, type PagedStream } from './specs.js';

export { pagedStreamSchema, type PagedStreamConfig } from './config.js';

/** The source kind of one time-window stream. */
export function pagedSource<S extends PagedStream>(stream: S): SourceKind<S, typeof pagedStreamSchema> {
  return {
    stream,
    schema: pagedStreamSchema,
    build(account, cfg, api, ctx) {
      return [
        new PagedSource({
          account: account.name,
          spec: PAGED_SPECS[stream],
          api,
          logger: ctx.logger,
          startFromMs: ctx.startFromMs,
          overlapMs: cfg.overlap,
          settleMs: ctx.settleMs ?? cfg.settle,
          maxWindowMs: cfg.max_window,
          pageSize: cfg.page_size,
          ...(ctx.now === undefined ? {} : { now: ctx.now }),
          ...(ctx.pool === undefined ? {} : { pool: ctx.pool }),
        }),
      ];
    },
  };
}
