// A real rsyslogd for the tests and bench:sinks: listens on free loopback ports (UDP, TCP, TLS), writes every message
// it receives as one JSON line, is stopped by its PID and can start again on the same ports (outage tests).
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { selfSignedCert, type TestCert } from './tls.js';

/** Where Debian installs it (`apt-get install rsyslog rsyslog-gnutls`; .ci/run does it). */
export const RSYSLOGD = process.env['RSYSLOGD'] ?? '/usr/sbin/rsyslogd';
/** rsyslog's maxMessageSize in the tests: the syslog sink's default for TCP/TLS. */
export const RSYSLOG_MAX_MESSAGE = 64 * 1024;

/** One message as the test rsyslog wrote it (its JSON line). */
export interface RsyslogMessage {
  pri: string;
  facility: string;
  severity: string;
  timestamp: string;
  hostname: string;
  app: string;
  procid: string;
  msgid: string;
  sd: string;
  msg: string;
  /** What came in after PRI, untouched: the header as the sender wrote it. */
  raw: string;
}

export interface RunningRsyslog {
  udpPort: number;
  tcpPort: number;
  tlsPort: number;
  /** The receiver's self-signed certificate (CN and subjectAltName 127.0.0.1): trust it with tls.ca_file. */
  cert: TestCert;
  /** The JSON-lines file every received message goes to. */
  outFile: string;
  pid(): number | undefined;
  /** Messages written so far (a half-written last line is left for the next read); read incrementally. */
  messages(): RsyslogMessage[];
  /** rsyslogd's own output so far. */
  log(): string;
  /** SIGTERM by PID and wait for it to exit (SIGKILL after a few seconds). The ports stay this receiver's. */
  stop(): Promise<void>;
  /** Starts rsyslogd again on the same ports and output file. */
  start(): Promise<void>;
  /** stop() and remove its folder. */
  close(): Promise<void>;
}

export function assertRsyslogInstalled(): void {
  if (!existsSync(RSYSLOGD)) {
    throw new Error(`rsyslogd is not installed (${RSYSLOGD}): run "apt-get install -y rsyslog rsyslog-gnutls" (.ci/run does it)`);
  }
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

function rsyslogConf(dir: string, out: string, ports: { udp: number; tcp: number; tls: number }, cert: TestCert, format: 'json' | 'protocol'): string {
  const prop = (key: string, name: string, extra = ''): string => `constant(value="\\"${key}\\":\\"") property(name="${name}" format="json"${extra}) constant(value="\\",")`;
  return [
    `global(workDirectory="${dir}" maxMessageSize="${RSYSLOG_MAX_MESSAGE}" parser.escapeControlCharactersOnReceive="off"`,
    `  defaultNetstreamDriverCAFile="${cert.certFile}" defaultNetstreamDriverCertFile="${cert.certFile}" defaultNetstreamDriverKeyFile="${cert.keyFile}")`,
    'module(load="imudp")',
    'module(load="imtcp" maxSessions="100")',
    `input(type="imudp" address="127.0.0.1" port="${ports.udp}" ruleset="t")`,
    `input(type="imtcp" address="127.0.0.1" port="${ports.tcp}" ruleset="t")`,
    `input(type="imtcp" address="127.0.0.1" port="${ports.tls}" ruleset="t" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")`,
    'template(name="j" type="list") {',
    '  constant(value="{")',
    `  ${prop('pri', 'pri')}`,
    `  ${prop('facility', 'syslogfacility')}`,
    `  ${prop('severity', 'syslogseverity')}`,
    `  ${prop('timestamp', 'timereported', ' dateFormat="rfc3339"')}`,
    `  ${prop('hostname', 'hostname')}`,
    `  ${prop('app', 'app-name')}`,
    `  ${prop('procid', 'procid')}`,
    `  ${prop('msgid', 'msgid')}`,
    `  ${prop('sd', 'structured-data')}`,
    `  ${prop('raw', 'rawmsg-after-pri')}`,
    '  constant(value="\\"msg\\":\\"") property(name="msg" format="json") constant(value="\\"}\\n")',
    '}',
    // No queue in rsyslog: a message it read is written before it reads the next, so what it loses when stopped is
    // only what sat unread in its sockets (the sender's settle_time covers that) — not a queue dropped at shutdown.
    // `protocol` (bench:sinks): rsyslog's own RFC 5424 line format, as an operator's file action would write it,
    // instead of the tests' JSON, which escapes every message twice.
    `ruleset(name="t" queue.type="Direct") { action(type="omfile" file="${out}" template="${format === 'json' ? 'j' : 'RSYSLOG_SyslogProtocol23Format'}" flushOnTXEnd="on" asyncWriting="off") }`,
    '',
  ].join('\n');
}

/** The JSON lines of an rsyslog output file; a last line still being written is left out. */
export function readRsyslogFile(file: string): RsyslogMessage[] {
  return rsyslogFileReader(file)();
}

/**
 * A reader of an rsyslog output file that parses only what was appended since its last call (tests poll it while
 * tens of thousands of messages arrive, in the collector's own process: re-reading the whole file each time starved
 * the collector). Returns every message so far (a copy); a last line still being written waits for the next call.
 */
export function rsyslogFileReader(file: string): () => RsyslogMessage[] {
  const out: RsyslogMessage[] = [];
  let offset = 0;
  const read = (): void => {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return;
    }
    try {
      const size = fstatSync(fd).size;
      if (size <= offset) return;
      const buf = Buffer.allocUnsafe(size - offset);
      const n = readSync(fd, buf, 0, buf.length, offset);
      const end = buf.lastIndexOf(0x0a, n - 1);
      if (end < 0) return;
      for (const line of buf.toString('utf8', 0, end).split('\n')) {
        if (line.length > 0) out.push(JSON.parse(line) as RsyslogMessage);
      }
      offset += end + 1;
    } finally {
      closeSync(fd);
    }
  };
  return () => {
    read();
    return out.slice();
  };
}

/** Resolves once something accepts a TCP connection on the port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts rsyslogd on free ports (UDP, TCP, TLS) writing every message to `outFile`: as the JSON lines
 * readRsyslogFile parses (`format: 'json'`, the default), or in rsyslog's RFC 5424 file format (`protocol`).
 */
export async function startRsyslog(options: { readyTimeoutMs?: number; format?: 'json' | 'protocol' } = {}): Promise<RunningRsyslog> {
  assertRsyslogInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'mc-rsyslog-'));
  const work = join(dir, 'work');
  mkdirSync(work);
  const cert = selfSignedCert('127.0.0.1', dir);
  const ports = { udp: await freeUdpPort(), tcp: await freePort(), tls: await freePort() };
  const outFile = join(dir, 'messages.jsonl');
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(conf, rsyslogConf(work, outFile, ports, cert, options.format ?? 'json'));
  const pidFile = join(dir, 'rsyslogd.pid');
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;

  const start = async (): Promise<void> => {
    if (child !== undefined) return;
    const c = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer): void => {
      log = (log + b.toString('utf8')).slice(-32 * 1024);
    };
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    child = c;
    let gone = false;
    exited = new Promise((resolve) => {
      c.once('exit', () => {
        gone = true;
        if (child === c) child = undefined;
        resolve();
      });
    });
    const deadline = Date.now() + readyTimeoutMs;
    // Inputs start together after the config is read: TCP and TLS accepting means UDP is bound too.
    while (!((await accepts(ports.tcp)) && (await accepts(ports.tls)))) {
      if (gone) throw new Error(`rsyslogd exited at start-up: ${log.trim()}`);
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`rsyslogd did not listen within ${readyTimeoutMs} ms: ${log.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (c === undefined) return;
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };

  await start();
  return {
    udpPort: ports.udp,
    tcpPort: ports.tcp,
    tlsPort: ports.tls,
    cert,
    outFile,
    pid: () => child?.pid,
    messages: rsyslogFileReader(outFile),
    log: () => log,
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
