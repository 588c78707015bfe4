// The one renderer per output format: an event's ECS document as `ecs` (as is), `raw`, `cef` or `leef` text.
import type { EcsDocument } from '../core/contracts.js';
import { toCef } from './cef.js';
import { toLeef } from './leef.js';
import { isRecord } from '../core/util.js';

export const OUTPUT_FORMATS = ['ecs', 'raw', 'cef', 'leef'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * `raw`: the API's record as it came, plus where it belongs (`mimecast.account/stream/log_type`). `record` is the
 * record when the caller still has it; otherwise it is read back from the document's `mimecast.*`, where the
 * normalizer put the record's own keys unchanged. The record's own `mimecast` key (if any) is not clobbered.
 */
export function renderRaw(doc: EcsDocument, record?: unknown): string {
  const mc = isRecord(doc['mimecast']) ? doc['mimecast'] : {};
  const meta = { account: mc['account'], stream: mc['stream'], log_type: mc['log_type'] };
  let base: Record<string, unknown>;
  if (isRecord(record)) {
    base = record;
  } else {
    base = { ...mc };
    delete base['account'];
    delete base['stream'];
    delete base['log_type'];
    delete base['parsed'];
  }
  return JSON.stringify({ ...base, mimecast: isRecord(base['mimecast']) ? { ...base['mimecast'], ...meta } : meta });
}

/** One event in `format`, as one line of text (no newline). `json` is the document's text when there is one. */
export function renderDocument(doc: EcsDocument, format: OutputFormat, json?: string, record?: unknown): string {
  switch (format) {
    case 'ecs':
      return json ?? JSON.stringify(doc);
    case 'cef':
      return toCef(doc);
    case 'leef':
      return toLeef(doc);
    case 'raw':
      return renderRaw(doc, record);
  }
}
