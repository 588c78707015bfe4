// Renders an output document as one IBM QRadar LEEF 1.0 line (tab-delimited attributes).
import type { EcsDocument } from '../core/contracts.js';
import { DEVICE_PRODUCT, DEVICE_VENDOR, DEVICE_VERSION, nameOf, signatureOf } from './cef.js';
import { pick, text } from './ecs.js';
import { severityOf } from './severity.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** The devTime layout we send, declared in every event so QRadar never guesses. */
export const LEEF_TIME_FORMAT = 'MMM dd yyyy HH:mm:ss.SSS z';

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** `May 01 2024 10:00:03.120 UTC` (always UTC). */
export function leefTime(iso: string): string | undefined {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return undefined;
  const d = new Date(ms);
  return `${MONTHS[d.getUTCMonth()] ?? 'Jan'} ${pad(d.getUTCDate())} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)} UTC`;
}

/** LEEF header field: backslash and pipe escaped, control characters (tab, CR, LF...) → space. */
export function leefHeader(v: string): string {
  // eslint-disable-next-line no-control-regex
  return v.replace(/[\\|]/g, (c) => `\\${c}`).replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/**
 * LEEF attribute value. LEEF 1.0 defines no escape for the tab delimiter, so tabs and line
 * breaks (and other control characters) become single spaces: the delimiter never appears
 * inside a value and the event stays on one line. `=` and `|` need no escaping in values.
 */
export function leefValue(v: string): string {
  // eslint-disable-next-line no-control-regex
  return v.replace(/\r\n|[\u0000-\u001f\u007f]/g, ' ');
}

/** The attribute pairs in a stable order; values unescaped. */
export function leefAttributes(doc: EcsDocument): [string, string][] {
  const pairs: [string, string][] = [];
  const add = (key: string, v: string | undefined): void => {
    if (v !== undefined && v.length > 0) pairs.push([key, v]);
  };
  const ts = text(doc['@timestamp']);
  const devTime = ts === undefined ? undefined : leefTime(ts);
  if (devTime !== undefined) {
    add('devTime', devTime);
    add('devTimeFormat', LEEF_TIME_FORMAT);
  }
  add('cat', text(pick(doc, 'mimecast.log_type')));
  add('sev', String(severityOf(doc)));
  add('src', text(pick(doc, 'source.ip')));
  add('dst', text(pick(doc, 'destination.ip')));
  const from = pick(doc, 'email.from.address');
  add('usrName', text(pick(doc, 'user.name')) ?? text(pick(doc, 'user.email')) ?? (Array.isArray(from) ? text(from[0]) : text(from)));
  add('sender', Array.isArray(from) ? text(from[0]) : text(from));
  add('recipient', text(pick(doc, 'email.to.address')));
  add('subject', text(pick(doc, 'email.subject')));
  add('messageId', text(pick(doc, 'email.message_id')));
  add('direction', text(pick(doc, 'email.direction')));
  add('action', text(pick(doc, 'event.action')));
  add('outcome', text(pick(doc, 'event.outcome')));
  add('reason', text(pick(doc, 'event.reason')));
  add('policy', text(pick(doc, 'rule.name')));
  add('url', text(pick(doc, 'url.original')) ?? text(pick(doc, 'threat.indicator.url.original')));
  add('fileName', text(pick(doc, 'file.name')));
  add(
    'fileHash',
    text(pick(doc, 'file.hash.sha256')) ?? text(pick(doc, 'file.hash.md5')) ?? text(pick(doc, 'threat.indicator.file.hash.sha256')),
  );
  add('indicatorType', text(pick(doc, 'threat.indicator.type')));
  add('eventId', text(pick(doc, 'event.id')));
  add('account', text(pick(doc, 'mimecast.account')));
  add('stream', text(pick(doc, 'mimecast.stream')));
  return pairs;
}

/**
 * One LEEF 1.0 line (no trailing newline):
 * `LEEF:1.0|Mimecast|Email Security|1.0|<stream:log_type>|key=value<TAB>key=value...`.
 * The event name travels as the `name` attribute since LEEF 1.0 has no header slot for it.
 */
export function toLeef(doc: EcsDocument): string {
  const header = [DEVICE_VENDOR, DEVICE_PRODUCT, DEVICE_VERSION, signatureOf(doc)].map(leefHeader).join('|');
  const attrs = [['name', nameOf(doc)] as [string, string], ...leefAttributes(doc)].map(([k, v]) => `${k}=${leefValue(v)}`).join('\t');
  return `LEEF:1.0|${header}|${attrs}`;
}
