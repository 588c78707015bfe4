// SIEM via API 1.0: per-type log files (JSON, key_value, zip) served one per call along the mc-siem-token chain.
import type { IncomingMessage } from 'node:http';
import type { SimContext } from './core/context.js';
import type { RouteTable } from './core/routes.js';
import { HttpReply, json, parseV1Body, readBody, v1Fail, validationFail, type Headers } from './http.js';
import { V1_PREFIXES, keyValueLine, type V1File } from './siemv1files.js';
import { intAt } from './tokens.js';
import { zipSingle } from './zip.js';

export { V1_PREFIXES, keyValueLine, keyValueObject } from './siemv1files.js';

function stamp(f: V1File): string {
  const iso = new Date(f.tLast).toISOString();
  return iso.slice(0, 19).replace(/[-T:]/g, '') + String(f.index % 1000).padStart(3, '0');
}

/** `receipt_20240301101500123` — the name both the download and a zip entry carry. */
export function v1FileBase(f: V1File): string {
  return `${V1_PREFIXES[f.p] as string}_${stamp(f)}`;
}

export async function getSiemLogsEndpoint(sim: SimContext, req: IncomingMessage, url: URL): Promise<HttpReply> {
  const auth = sim.auth.api(req, url.pathname, ['siem_v1']);
  if (!auth.ok) return auth.reply;
  const h = auth.headers;
  const raw = await readBody(req, 64 * 1024);
  const body = raw === undefined ? undefined : parseV1Body(raw);
  if (body === undefined) return v1Fail(400, 'err_request_malformed', 'The request body is not valid JSON', { httpStatus: 400, headers: h });
  const item = body.item;
  if (item === undefined) return validationFail('err_validation_null', 'data[0] is required', { headers: h, field: 'data' });
  if (item['type'] !== 'MTA') return validationFail('err_validation_invalid_value', 'type must be MTA', { key: item, field: 'type', headers: h });
  const formatRaw = item['fileFormat'] ?? 'key_value';
  const format = typeof formatRaw === 'string' ? formatRaw.toLowerCase() : '';
  if (format !== 'json' && format !== 'key_value') {
    return validationFail('err_validation_invalid_value', 'fileFormat must be json or key_value', { key: item, field: 'fileFormat', headers: h });
  }
  const compressRaw = item['compress'] ?? false;
  if (typeof compressRaw !== 'boolean') {
    return validationFail('err_validation_invalid_value', 'compress must be a boolean', { key: item, field: 'compress', headers: h });
  }
  const files = sim.account.siemV1.files;
  const now = Date.now();
  const oldest = sim.account.siemV1.firstRetained(now);
  const tokenRaw = item['token'];
  let next: number;
  if (tokenRaw === undefined || tokenRaw === null || tokenRaw === '') {
    next = oldest;
  } else {
    const v = typeof tokenRaw === 'string' ? sim.signer.parse('siem1', tokenRaw) : undefined;
    const idx = v === undefined ? undefined : intAt(v, 0);
    // A token whose file has aged out of retention is as dead as a forged one.
    if (idx === undefined || idx > files.length || idx < oldest) {
      return v1Fail(400, 'err_audit_siem_invalid_token', 'The SIEM token is invalid', { httpStatus: 200, key: item, field: 'token', headers: h });
    }
    next = idx;
  }
  if (next >= files.length) {
    const echo = typeof tokenRaw === 'string' && tokenRaw !== '' ? tokenRaw : sim.signer.sign('siem1', [next]);
    // Exactly `application/json`, no charset: clients written against Mimecast compare the header literally to tell
    // "no more logs" from a file.
    return json(200, { meta: { status: 200, isLastToken: true }, data: [], fail: [] }, { ...h, 'Content-Type': 'application/json', 'mc-siem-token': echo });
  }
  const f = files[next] as V1File;
  const recs = sim.account.siemV1.records(f, sim.opts.accountCode, sim.opts.accountOffsetMin);
  const base = v1FileBase(f);
  const ext = format === 'json' ? 'json' : 'log';
  let content: Buffer = Buffer.from(
    format === 'json' ? `{"type":"MTA","data":[${recs.map((r) => JSON.stringify(r)).join(',')}]}` : recs.map(keyValueLine).join('\n') + '\n',
    'utf8',
  );
  let name = `${base}.${ext}`;
  if (compressRaw) {
    content = zipSingle(name, content, new Date(f.tLast));
    name = `${base}.zip`;
    if (sim.faults.roll(sim.faults.current().corruptZip) && content.length > 60) {
      sim.faults.count('corruptZip');
      content = Buffer.from(content);
      // Scribble over the middle of the deflate stream: headers stay intact, inflate or CRC fails.
      const at = 30 + name.length + 2;
      for (let k = 0; k < 8 && at + k < content.length - 22; k++) content[at + k] = (content[at + k] as number) ^ 0x5a;
    }
  }
  if (sim.faults.roll(sim.faults.current().truncatedFile) && content.length > 1) {
    sim.faults.count('truncatedFile');
    content = content.subarray(0, Math.max(1, Math.floor(content.length * (0.2 + 0.6 * sim.faults.rng.next()))));
  }
  const headers: Headers = {
    ...h,
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': `attachment; filename="${name}"`,
    'mc-siem-token': sim.signer.sign('siem1', [next + 1]),
  };
  return new HttpReply(200, content, headers);
}

export function registerV1Siem(routes: RouteTable): void {
  routes.add({ method: 'POST', path: '/api/audit/get-siem-logs', counter: 'siemLogs', v1: true, handler: getSiemLogsEndpoint });
}
