// Every kind of source, in one list: the config's `streams` schema, its API-generation rules and the source
// builder all come from here. A new stream is a folder under sources/ exporting its SourceKind, plus its line below.
import { z } from 'zod';
import type { Source, StreamName } from '../core/contracts.js';
import type { MimecastApi } from '../mimecast/api.js';
import type { ApiIssue, SourceAccount, SourceContext, SourceKind } from './common.js';
import { pagedSource } from './paged/index.js';
import { siemSource } from './siem/index.js';
import { threatIntelSource } from './threat_intel/index.js';

/** One entry per stream, in the order sources are built (and cursors first written). */
export const SOURCE_KINDS = {
  siem: siemSource,
  ttp_url: pagedSource('ttp_url'),
  ttp_attachment: pagedSource('ttp_attachment'),
  ttp_impersonation: pagedSource('ttp_impersonation'),
  audit: pagedSource('audit'),
  dlp: pagedSource('dlp'),
  held_release: pagedSource('held_release'),
  archive_search: pagedSource('archive_search'),
  threat_intel: threatIntelSource,
} as const satisfies { readonly [S in StreamName]: SourceKind<S, z.ZodType> };

type Kinds = typeof SOURCE_KINDS;
type StreamsShape = { [S in StreamName]: z.ZodOptional<Kinds[S]['schema']> };

const STREAMS = Object.keys(SOURCE_KINDS) as StreamName[];

/** An account's `streams` block: every stream optional, unknown names refused. */
export const STREAMS_SCHEMA = z.strictObject(Object.fromEntries(STREAMS.map((s) => [s, SOURCE_KINDS[s].schema.optional()])) as StreamsShape);

export type StreamsConfig = z.output<typeof STREAMS_SCHEMA>;

/** A stream's kind, seen through its own config type (TypeScript cannot correlate `SOURCE_KINDS[s]` with `streams[s]`). */
function kindOf(stream: StreamName): SourceKind<StreamName, z.ZodType<unknown, unknown>> {
  return SOURCE_KINDS[stream] as SourceKind<StreamName, z.ZodType<unknown, unknown>>;
}

/** What the configured streams may not say for an account of API generation `api`; paths start at `streams`. */
export function streamApiIssues(api: 'v1' | 'v2', streams: StreamsConfig): ApiIssue[] {
  const issues: ApiIssue[] = [];
  for (const stream of STREAMS) {
    const cfg = streams[stream];
    const kind = kindOf(stream);
    if (cfg === undefined || kind.apiIssues === undefined) continue;
    for (const issue of kind.apiIssues(api, cfg)) issues.push({ path: [stream, ...issue.path], message: issue.message });
  }
  return issues;
}

/** Every source the configured streams ask for, in a stable order (SOURCE_KINDS's). */
export function buildStreamSources(account: SourceAccount, streams: StreamsConfig, api: MimecastApi, ctx: SourceContext): Source[] {
  const sources: Source[] = [];
  for (const stream of STREAMS) {
    const cfg = streams[stream];
    if (cfg !== undefined) sources.push(...kindOf(stream).build(account, cfg, api, ctx));
  }
  return sources;
}
