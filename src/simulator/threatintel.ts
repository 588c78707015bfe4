// Threat intel feed files (STIX 2 bundles or CSV) chained by the X-Mc-Threat-Feed-Next-Token header.
import type { IncomingMessage } from 'node:http';
import { HttpReply, parseRequestDate, parseV1Body, readBody, v1Fail, validationFail, type Headers } from './http.js';
import { feedOf, logRecord, type Rec } from './logrecords.js';
import { Rng, mix } from './prng.js';
import type { SimContext } from './core/context.js';
import type { RouteTable } from './core/routes.js';
import { intAt } from './tokens.js';
import { zipSingle } from './zip.js';

const FEEDS = ['malware_customer', 'malware_grid'] as const;
const DAY_MS = 86_400_000;
const CSV_COLUMNS = ['type', 'id', 'created', 'modified', 'name', 'pattern', 'valid_from', 'labels'] as const;

function csvCell(v: unknown): string {
  const s = v === undefined || v === null ? '' : Array.isArray(v) ? v.join(';') : typeof v === 'object' ? JSON.stringify(v) : String(v as string);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export async function threatIntelEndpoint(sim: SimContext, req: IncomingMessage, url: URL): Promise<HttpReply> {
  const auth = sim.auth.api(req, url.pathname, ['threat_intel']);
  if (!auth.ok) return auth.reply;
  const h = auth.headers;
  const raw = await readBody(req, 64 * 1024);
  const body = raw === undefined ? undefined : parseV1Body(raw);
  if (body === undefined) return v1Fail(400, 'err_request_malformed', 'The request body is not valid JSON', { httpStatus: 400, headers: h });
  const item = body.item ?? {};
  const feedRaw = item['feedType'] ?? 'malware_customer';
  const feed = FEEDS.indexOf(feedRaw as (typeof FEEDS)[number]);
  if (feed < 0) return validationFail('err_validation_invalid_value', 'feedType must be malware_customer or malware_grid', { key: item, field: 'feedType', headers: h });
  const fileType = item['fileType'] ?? 'csv';
  if (fileType !== 'stix' && fileType !== 'csv') return validationFail('err_validation_invalid_value', 'fileType must be stix or csv', { key: item, field: 'fileType', headers: h });
  const compress = item['compress'] === true;
  const store = sim.account.stores.threat_intel;
  const now = Date.now();
  let lo: number;
  let hi: number;
  let pos: number;
  const tokenRaw = item['token'];
  if (typeof tokenRaw === 'string' && tokenRaw !== '') {
    const v = sim.signer.parse(`ti:${feed}`, tokenRaw);
    const a = v === undefined ? undefined : intAt(v, 0);
    const b = v === undefined ? undefined : intAt(v, 1);
    const p = v === undefined ? undefined : intAt(v, 2);
    if (a === undefined || b === undefined || p === undefined || b < a || b > store.count) {
      return validationFail('err_threat_intel_invalid_token', 'The feed token is invalid', { key: item, field: 'token', headers: h });
    }
    [lo, hi, pos] = [a, b, p];
  } else {
    const startRaw = item['start'];
    const endRaw = item['end'];
    const start = typeof startRaw === 'string' ? parseRequestDate(startRaw) : startRaw === undefined ? now - 7 * DAY_MS : undefined;
    const end = typeof endRaw === 'string' ? parseRequestDate(endRaw) : endRaw === undefined ? now : undefined;
    if (start === undefined || end === undefined || end < start) {
      return validationFail('err_validation_invalid_date', 'start/end must be dates like 2011-12-03T10:15:30+0000, start before end', { key: item, headers: h });
    }
    [lo, hi, pos] = [store.lowerBound(start), store.lowerBound(end + 1), 0];
  }
  const objects: Rec[] = [];
  let i = lo + pos;
  for (; i < hi && objects.length < sim.opts.threatIntelObjectsPerFile; i++) {
    const seed = store.seedOf(i);
    if (feedOf(seed) === FEEDS[feed]) objects.push(logRecord('threat_intel', seed, store.timeOf(i)));
  }
  while (i < hi && feedOf(store.seedOf(i)) !== FEEDS[feed]) i++;
  const r = new Rng(mix(sim.opts.seedH, 0x7b0d, lo + pos, hi));
  const bundleId = `bundle--${r.hex(8)}-${r.hex(4)}-4${r.hex(3)}-a${r.hex(3)}-${r.hex(12)}`;
  const ext = fileType === 'stix' ? 'json' : 'csv';
  const text =
    fileType === 'stix'
      ? JSON.stringify({ type: 'bundle', id: bundleId, spec_version: '2.0', objects })
      : [CSV_COLUMNS.join(','), ...objects.map((o) => CSV_COLUMNS.map((c) => csvCell(o[c])).join(','))].join('\r\n') + '\r\n';
  const stampMs = objects.length > 0 ? store.timeOf(i - 1) : now;
  const stamp = new Date(stampMs).toISOString().slice(0, 23).replace(/[-T:.]/g, '');
  let name = `${FEEDS[feed]}_${fileType}_${stamp}.${ext}`;
  let content: Buffer = Buffer.from(text, 'utf8');
  if (compress) {
    content = zipSingle(name, content, new Date(stampMs));
    name = name.replace(/\.[a-z]+$/, '.zip');
  }
  if (sim.faults.roll(sim.faults.current().truncatedFile) && content.length > 1) {
    sim.faults.count('truncatedFile');
    content = content.subarray(0, Math.max(1, Math.floor(content.length * (0.2 + 0.6 * sim.faults.rng.next()))));
  }
  const headers: Headers = { ...h, 'Content-Type': 'application/octet-stream', 'Content-Disposition': `attachment; filename="${name}"` };
  if (i < hi) headers['X-Mc-Threat-Feed-Next-Token'] = sim.signer.sign(`ti:${feed}`, [lo, hi, i - lo]);
  return new HttpReply(200, content, headers);
}

export function registerThreatIntel(routes: RouteTable): void {
  routes.add({ method: 'POST', path: '/api/ttp/threat-intel/get-feed', counter: 'threatIntel', v1: true, handler: threatIntelEndpoint });
}
