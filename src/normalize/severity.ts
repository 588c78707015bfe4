// The severity of an event (0–10, the CEF/LEEF scale) from its verdict: one rule for every output format, computed
// once when the event is normalized and journaled beside it, so sinks need not parse documents for it.
import type { EcsDocument } from '../core/contracts.js';
import { isRecord } from '../core/util.js';
import { text } from './ecs.js';

const HIGH_VERDICTS: ReadonlySet<string> = new Set(['malicious', 'infected', 'phishing', 'virus']);
const BLOCKING_ACTIONS: ReadonlySet<string> = new Set(['reject', 'bounce', 'block', 'hold', 'denied', 'rejected', 'delete']);

/**
 * Severity 0–10 from the event's verdict: 8 malware or a malicious verdict, 7 other alerts,
 * 6 threat events that were blocked/held, 5 failures and threat-intel entries, 3 everything else.
 */
export function severityOf(doc: EcsDocument): number {
  // Computed for every event: fields read straight from the objects (no path splitting, no arrays).
  const event = isRecord(doc['event']) ? doc['event'] : undefined;
  const categories = event?.['category'];
  const has = (c: string): boolean => Array.isArray(categories) && categories.includes(c);
  const mc = isRecord(doc['mimecast']) ? doc['mimecast'] : undefined;
  const verdict = mc !== undefined && (isHighVerdict(mc['scanResult']) || isHighVerdict(mc['result']) || isHighVerdict(mc['reason']));
  const kind = event?.['kind'];
  if (has('malware') || verdict) return 8;
  if (kind === 'alert') return 7;
  if (has('threat')) {
    const action = text(event?.['action'])?.toLowerCase();
    if (action !== undefined && BLOCKING_ACTIONS.has(action)) return 6;
  }
  if (event?.['outcome'] === 'failure' || kind === 'enrichment') return 5;
  return 3;
}

function isHighVerdict(v: unknown): boolean {
  return typeof v === 'string' && HIGH_VERDICTS.has(v.toLowerCase());
}

/**
 * The same rule for an event being finished: its ECS `event` object and the record that becomes `mimecast.*` (the
 * only parts the rule reads), without building the whole document.
 */
export function severityOfParts(event: unknown, record: Record<string, unknown>): number {
  return severityOf({ event, mimecast: record });
}
