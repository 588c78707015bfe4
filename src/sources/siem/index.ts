// The SIEM source kind: API 2.0 batch files per type or the stream endpoint, API 1.0 get-siem-logs files.
import { SIEM_TYPES, isCiType, type SiemLogType, type SiemType, type Source } from '../../core/contracts.js';
import type { ApiIssue, SourceKind } from '../common.js';
import { SiemBatchSource } from './batch.js';
import { siemStreamSchema } from './config.js';
import { SiemStreamSource } from './stream.js';
import { SiemTypeFilter } from './type-filter.js';
import { SiemV1Source } from './v1/source.js';

export { siemStreamSchema, type SiemStreamConfig } from './config.js';

export const siemSource: SourceKind<'siem', typeof siemStreamSchema> = {
  stream: 'siem',
  schema: siemStreamSchema,
  apiIssues(api, siem) {
    const issues: ApiIssue[] = [];
    if (api === 'v2') {
      for (const key of ['file_format', 'compress'] as const) {
        if (siem[key] !== undefined) issues.push({ path: [key], message: `${key} applies to API 1.0 accounts only (api: v1)` });
      }
      if (siem.mode === 'batch' && siem.page_size !== undefined && siem.page_size > 100) {
        issues.push({ path: ['page_size'], message: 'batch mode lists at most 100 files per page' });
      }
      return issues;
    }
    if (siem.mode === 'stream') {
      issues.push({ path: ['mode'], message: 'the stream endpoint needs API 2.0; API 1.0 accounts read get-siem-logs files (leave mode out)' });
    }
    if (siem.page_size !== undefined) {
      issues.push({ path: ['page_size'], message: 'page_size applies to API 2.0 only (get-siem-logs returns one file per call)' });
    }
    const ci = siem.types.filter(isCiType);
    if (ci.length > 0) issues.push({ path: ['types'], message: `${ci.join(', ')}: Cloud Integrated logs need API 2.0 (api: v2)` });
    return issues;
  },
  build(account, siem, api, ctx) {
    const { logger, startFromMs } = ctx;
    const now = ctx.now === undefined ? {} : { now: ctx.now };
    const pool = ctx.pool === undefined ? {} : { pool: ctx.pool };
    // Cloud Integrated types always come from their batch endpoint (config allows them on API 2.0 accounts only).
    const cgTypes = siem.types.filter((t): t is SiemType => !isCiType(t));
    const ciTypes = siem.types.filter(isCiType);
    const allTypes = SIEM_TYPES.every((t) => cgTypes.includes(t));
    const batchSource = (type: SiemLogType): Source =>
      new SiemBatchSource({
        account: account.name,
        type,
        api,
        startFromMs,
        pageSize: Math.min(siem.page_size ?? 100, 100),
        chunkEvents: siem.chunk_events,
        fileRetrySpanMs: siem.file_retry_span,
        maxRecordBytes: siem.max_record_size,
        maxFileBytes: siem.max_file_size,
        logger,
        ...now,
        ...pool,
      });
    if (account.api === 'v1') {
      const source = new SiemV1Source({
        account: account.name,
        api,
        fileFormat: siem.file_format ?? 'json',
        compress: siem.compress ?? true,
        chunkEvents: siem.chunk_events,
        fileRetrySpanMs: siem.file_retry_span,
        maxRecordBytes: siem.max_record_size,
        maxFileBytes: siem.max_file_size,
        logger,
        ...pool,
      });
      return [allTypes ? source : new SiemTypeFilter(source, new Set(cgTypes))];
    }
    if (siem.mode === 'stream') {
      const sources: Source[] = [];
      if (cgTypes.length > 0) {
        sources.push(
          new SiemStreamSource({
            account: account.name,
            api,
            logger,
            startFromMs,
            pageSize: siem.page_size ?? 100,
            ...(allTypes ? {} : { types: cgTypes }),
            ...now,
          }),
        );
      }
      for (const type of ciTypes) sources.push(batchSource(type));
      return sources;
    }
    return siem.types.map(batchSource);
  },
};
