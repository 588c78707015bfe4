// The simulator's resolved options: defaults, credentials derived from the seed, and the per-stream shares.
import { join } from 'node:path';
import { parseOffset } from '../http.js';
import { LOG_STREAMS, type LogStreamName } from '../logstore.js';
import { Rng, mix, seedHash } from '../prng.js';
import type { SimulatorFaults, SimulatorOptions } from '../types.js';
import { silentLogger, type Logger } from '../../telemetry/logger.js';

/** Cloud Integrated records per Cloud Gateway SIEM record published (when the account has the product). */
export const CI_SHARE = 0.2;

/** How many records of each 1.0-style stream come with one v2 SIEM record, unless `streamShare` says otherwise. */
const DEFAULT_SHARE: Readonly<Record<LogStreamName, number>> = {
  siem_v1: 1,
  ttp_url: 0.2,
  ttp_attachment: 0.1,
  ttp_impersonation: 0.05,
  audit: 0.05,
  dlp: 0.05,
  held_release: 0.05,
  archive_search: 0.05,
  threat_intel: 0.1,
};

export interface ResolvedOptions {
  port: number;
  host: string;
  seedH: number;
  clientId: string;
  clientSecret: string;
  accountCode: string;
  appId: string;
  appKey: string;
  accessKey: string;
  secretKey: string;
  tokenTtlSeconds: number;
  backlogRecords: number;
  backlogHours: number;
  publishIntervalMs: number;
  recordsPerInterval: number;
  recordsPerBlob: number;
  maxPageSize: number;
  blobTtlMs: number;
  rateLimit: { limit: number; windowMs: number } | undefined;
  manifestPath: string | undefined;
  manifestDir: string | undefined;
  manifestSiemV1As: 'json' | 'key_value';
  cacheDir: string | undefined;
  faults: SimulatorFaults;
  logger: Logger;
  startTime: number;
  accountOffsetMin: number;
  streamRecords: Record<LogStreamName, number>;
  streamShare: Record<LogStreamName, number>;
  lateArrivalMs: number;
  lateArrivalShare: number;
  emptyLastPage: boolean;
  unlicensed: ReadonlySet<string>;
  cloudIntegrated: boolean;
  wrongRegion: string | undefined;
  tls: { cert: string; key: string } | undefined;
  publicHost: string | undefined;
  siemV1RecordsPerFile: number;
  siemV1FileMs: number;
  maxApiPageSize: number;
  threatIntelObjectsPerFile: number;
}

export function resolveOptions(o: SimulatorOptions): ResolvedOptions {
  const seedH = seedHash(o.seed ?? 1);
  const r = new Rng(mix(seedH, 0xc1d));
  const letters = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
  const derivedAccount = `CU${r.pick([...letters])}${r.range(10, 99)}${r.pick([...letters])}${r.range(100, 999)}`;
  const derivedId = `sim-${r.hex(24)}`;
  const derivedSecret = r.token(40);
  // Drawn after the 2.0 values so existing seeds keep their client id/secret.
  const v1 = new Rng(mix(seedH, 0x7161));
  const hex = v1.hex(32);
  const derivedAppId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const hex2 = v1.hex(32);
  const derivedAppKey = `${hex2.slice(0, 8)}-${hex2.slice(8, 12)}-${hex2.slice(12, 16)}-${hex2.slice(16, 20)}-${hex2.slice(20)}`;
  const derivedAccessKey = `mYtOL3XZCOwG96BOiFTZRm${v1.token(60)}`;
  const secretBytes = Buffer.alloc(64);
  for (let i = 0; i < secretBytes.length; i++) secretBytes[i] = v1.int(256);
  const positive = (v: number | undefined, d: number): number => (v !== undefined && Number.isFinite(v) && v >= 0 ? v : d);
  const backlogRecords = Math.floor(positive(o.backlogRecords, 2000));
  const streamRecords = {} as Record<LogStreamName, number>;
  const streamShare = {} as Record<LogStreamName, number>;
  for (const s of LOG_STREAMS) {
    streamShare[s] = positive(o.streamShare?.[s], DEFAULT_SHARE[s]);
    streamRecords[s] = Math.floor(positive(o.streamRecords?.[s], Math.round(backlogRecords * streamShare[s])));
  }
  const offset = parseOffset(o.accountUtcOffset ?? '+0100');
  if (offset === undefined) throw new RangeError(`accountUtcOffset must look like +0100 or -04:00, got ${o.accountUtcOffset ?? ''}`);
  return {
    port: o.port ?? 0,
    host: o.host ?? '127.0.0.1',
    seedH,
    clientId: o.clientId ?? derivedId,
    clientSecret: o.clientSecret ?? derivedSecret,
    accountCode: o.accountCode ?? derivedAccount,
    appId: o.appId ?? derivedAppId,
    appKey: o.appKey ?? derivedAppKey,
    accessKey: o.accessKey ?? derivedAccessKey,
    secretKey: o.secretKey ?? secretBytes.toString('base64'),
    tokenTtlSeconds: positive(o.tokenTtlSeconds, 1799),
    backlogRecords,
    backlogHours: positive(o.backlogHours, 24),
    publishIntervalMs: positive(o.publishIntervalMs, 5000),
    recordsPerInterval: Math.floor(positive(o.recordsPerInterval, 200)),
    recordsPerBlob: Math.max(1, Math.floor(positive(o.recordsPerBlob, 500))),
    maxPageSize: Math.max(1, Math.floor(positive(o.maxPageSize, 100))),
    blobTtlMs: positive(o.blobTtlMs, 15 * 60_000),
    rateLimit: o.rateLimit,
    manifestPath: o.manifestPath ?? (o.manifestDir === undefined ? undefined : join(o.manifestDir, 'siem.ndjson')),
    manifestDir: o.manifestDir,
    manifestSiemV1As: o.manifestSiemV1As ?? 'json',
    cacheDir: o.cacheDir,
    faults: { ...(o.faults ?? {}) },
    logger: o.logger ?? silentLogger(),
    startTime: o.startTime ?? Date.now(),
    accountOffsetMin: offset,
    streamRecords,
    streamShare,
    lateArrivalMs: positive(o.lateArrivalMs, 0),
    lateArrivalShare: Math.min(1, positive(o.lateArrivalShare, 0.25)),
    emptyLastPage: o.emptyLastPage ?? false,
    // Without the Cloud Integrated product its endpoint answers like any unlicensed one.
    unlicensed: new Set([...(o.unlicensed ?? []), ...(o.cloudIntegrated === true ? [] : ['cloud_integrated'])]),
    cloudIntegrated: o.cloudIntegrated === true,
    wrongRegion: o.wrongRegion === true ? 'https://de-api.mimecast.com' : o.wrongRegion === false ? undefined : o.wrongRegion,
    tls: o.tls,
    publicHost: o.publicHost,
    siemV1RecordsPerFile: Math.max(1, Math.floor(positive(o.siemV1RecordsPerFile, 200))),
    siemV1FileMs: Math.max(1000, positive(o.siemV1FileMs, 30 * 60_000)),
    maxApiPageSize: Math.max(1, Math.floor(positive(o.maxApiPageSize, 500))),
    threatIntelObjectsPerFile: Math.max(1, Math.floor(positive(o.threatIntelObjectsPerFile, 50))),
  };
}

/** The credentials and account code a seed yields when none are given (what the CLI prints). */
export function defaultCredentials(
  seed: number | string = 1,
): Pick<ResolvedOptions, 'clientId' | 'clientSecret' | 'accountCode' | 'appId' | 'appKey' | 'accessKey' | 'secretKey'> {
  const o = resolveOptions({ seed });
  return { clientId: o.clientId, clientSecret: o.clientSecret, accountCode: o.accountCode, appId: o.appId, appKey: o.appKey, accessKey: o.accessKey, secretKey: o.secretKey };
}
