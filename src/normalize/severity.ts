// The severity of an event (0–10, the CEF/LEEF scale) from its verdict: one rule for every output format, computed
// once when the event is normalized and journaled beside it, so sinks need not parse documents for it.
import type { EcsDocument } from '../core/contracts.js';
import { isRecord } from '../core/util.js';
import { pick, text } from './ecs.js';

const HIGH_VERDICTS: ReadonlySet<string> = new Set(['malicious', 'infected', 'phishing', 'virus']);
const BLOCKING_ACTIONS: ReadonlySet<string> = new Set(['reject', 'bounce', 'block', 'hold', 'denied', 'rejected', 'delete']);

/**
 * Severity 0–10 from the event's verdict: 8 malware or a malicious verdict, 7 other alerts,
 * 6 threat events that were blocked/held, 5 failures and threat-intel entries, 3 everything else.
 */
export function severityOf(doc: EcsDocument): number {
  const categories = pick(doc, 'event.category');
  const has = (c: string): boolean => Array.isArray(categories) && categories.includes(c);
  const mc = isRecord(doc['mimecast']) ? doc['mimecast'] : {};
  const verdict = [mc['scanResult'], mc['result'], mc['reason']].map((v) => (typeof v === 'string' ? v.toLowerCase() : '')).find((v) => HIGH_VERDICTS.has(v));
  const kind = pick(doc, 'event.kind');
  const action = text(pick(doc, 'event.action'))?.toLowerCase();
  if (has('malware') || verdict !== undefined) return 8;
  if (kind === 'alert') return 7;
  if (has('threat') && action !== undefined && BLOCKING_ACTIONS.has(action)) return 6;
  if (pick(doc, 'event.outcome') === 'failure' || kind === 'enrichment') return 5;
  return 3;
}

/**
 * The same rule for an event being finished: its ECS `event` object and the record that becomes `mimecast.*` (the
 * only parts the rule reads), without building the whole document.
 */
export function severityOfParts(event: unknown, record: Record<string, unknown>): number {
  return severityOf({ event, mimecast: record });
}
