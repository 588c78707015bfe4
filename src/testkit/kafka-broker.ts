// A real single-node Apache Kafka (KRaft broker+controller) for the tests and bench:sinks, run as a child JVM from the
// Maven Central jars test/kafka/install.sh fetched, stopped by its PID and restartable on the same ports.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin, Consumer } from '@platformatic/kafka';
import { freePort } from './free-port.js';

/** The repository: two levels above this module, whether it runs from src/testkit or dist/testkit. */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Where test/kafka/install.sh (run by .ci/run) puts the jars. */
export const KAFKA_DIR = join(REPO, '.cache/kafka');

/** SASL users the broker knows on its SASL listener: PLAIN and SCRAM-SHA-256/512, each with this password. */
export const KAFKA_SASL_USER = 'collector';
export const KAFKA_SASL_PASSWORD = 'collector-secret';

export interface KafkaBrokerOptions {
  /** `auto.create.topics.enable`. Default false (topics are made with createTopic). */
  autoCreateTopics?: boolean;
  /** `message.max.bytes`: the largest record batch the broker takes. Default the broker's own (1048588). */
  messageMaxBytes?: number;
  /** Add a SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; user KAFKA_SASL_USER). */
  sasl?: boolean;
  /** Add an SSL listener with this certificate and key (PEM files; the key unencrypted PKCS#8). */
  tls?: { certFile: string; keyFile: string };
  /** Bound on the wait for the broker to answer metadata. Default 60 s. */
  readyTimeoutMs?: number;
  /** The install folder; tests of the "not installed" message point it elsewhere. */
  kafkaDir?: string;
}

export interface RunningKafkaBroker {
  /** `127.0.0.1:port` of the PLAINTEXT listener. */
  bootstrap: string;
  /** `127.0.0.1:port` of the SASL_PLAINTEXT listener, when asked for. */
  saslBootstrap?: string;
  /** `127.0.0.1:port` of the SSL listener, when asked for. */
  tlsBootstrap?: string;
  /** The JVM's PID (a new one after start()). */
  pid(): number;
  /** Milliseconds from the first spawn to the first metadata answer (storage format included). */
  startupMs: number;
  /** The broker's log so far (its stdout and stderr, last 64 KB). */
  log(): string;
  /** Creates a topic (1 partition unless told, replication 1) and waits until each partition has a leader. */
  createTopic(name: string, config?: Record<string, string>, partitions?: number): Promise<void>;
  /** Stops the JVM (SIGTERM, SIGKILL after 15 s), keeping its data; `start` brings it back on the same ports. */
  stop(): Promise<void>;
  /** Starts the JVM again on the same ports and data, and waits until it answers. */
  start(): Promise<void>;
  /** Stops it and removes its folder. Safe to call twice. */
  close(): Promise<void>;
}

const LOG_KEEP = 64 * 1024;

function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Throws with the install command when the broker is not installed (tests do not skip for that: .ci/run installs it). */
export function assertKafkaInstalled(kafkaDir = KAFKA_DIR): void {
  if (!existsSync(join(kafkaDir, 'stamp')) || !existsSync(join(kafkaDir, 'lib'))) {
    throw new Error(`the test Kafka broker is not installed in ${kafkaDir}: run "bash test/kafka/install.sh" (needs mvn and Java 17; .ci/run does it)`);
  }
}

function run(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((done, fail) => {
    execFile(cmd, args, { maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`${cmd} ${args.slice(-6).join(' ')}: ${err.message}\n${tail(stdout + stderr)}`));
      else done(stdout);
    });
  });
}

// On 2 shared cores: one GC thread and the quick compiler only start faster and use less memory (as for the test
// OpenSearch); the heap stays small, a test moves a few MB.
const JVM = ['-Xms256m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true'];

const LOG4J = [
  'status = error',
  'appender.out.type = Console',
  'appender.out.name = out',
  'appender.out.layout.type = PatternLayout',
  'appender.out.layout.pattern = [%d] %p %m (%c)%n',
  'rootLogger.level = WARN',
  'rootLogger.appenderRef.out.ref = out',
  'logger.server.name = kafka.server',
  'logger.server.level = INFO',
  '',
].join('\n');

/** An admin client for loopback tests: short timeouts, few retries. */
function admin(bootstrap: string): Admin {
  return new Admin({ clientId: 'testkit-admin', bootstrapBrokers: [bootstrap], retries: 0, connectTimeout: 2000, requestTimeout: 5000 });
}

/** The broker could not bind a port chosen for it: another process took it between freePort() and the JVM's bind. */
class PortTakenError extends Error {}

/** Attempts at a start whose port another process took meanwhile, each with fresh ports. */
const PORT_ATTEMPTS = 3;

export async function startKafkaBroker(options: KafkaBrokerOptions = {}): Promise<RunningKafkaBroker> {
  // The ports are free when chosen, but the JVMs that format the storage take seconds before the broker binds
  // them, and on a shared machine any outgoing connection may be given one of them meanwhile (it happened in
  // bench:sinks with another session's tests running): then the start is made again with new ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (!(err instanceof PortTakenError) || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}

async function startOnce(options: KafkaBrokerOptions): Promise<RunningKafkaBroker> {
  const kafkaDir = options.kafkaDir ?? KAFKA_DIR;
  assertKafkaInstalled(kafkaDir);
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const home = mkdtempSync(join(tmpdir(), 'mc-kafka-'));
  const classpath = join(kafkaDir, 'lib/*');
  const [port, controllerPort, saslPort, tlsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const bootstrap = `127.0.0.1:${port}`;
  const listeners = [`PLAINTEXT://${bootstrap}`];
  const protocols = ['PLAINTEXT:PLAINTEXT', 'CONTROLLER:PLAINTEXT'];
  const extra: string[] = [];
  if (options.sasl === true) {
    listeners.push(`SASL_PLAINTEXT://127.0.0.1:${saslPort}`);
    protocols.push('SASL_PLAINTEXT:SASL_PLAINTEXT');
    extra.push(
      'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
      `listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${KAFKA_SASL_USER}="${KAFKA_SASL_PASSWORD}";`,
      'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    );
  }
  if (options.tls !== undefined) {
    // A PEM keystore: the key and its certificate in one file.
    const pem = join(home, 'server.pem');
    writeFileSync(pem, readFileSync(options.tls.keyFile, 'utf8') + readFileSync(options.tls.certFile, 'utf8'));
    listeners.push(`SSL://127.0.0.1:${tlsPort}`);
    protocols.push('SSL:SSL');
    extra.push('ssl.keystore.type=PEM', `ssl.keystore.location=${pem}`);
  }
  listeners.push(`CONTROLLER://127.0.0.1:${controllerPort}`);
  const properties = [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=${listeners.join(',')}`,
    `advertised.listeners=${listeners.filter((l) => !l.startsWith('CONTROLLER')).join(',')}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `listener.security.protocol.map=${protocols.join(',')}`,
    `log.dirs=${join(home, 'data')}`,
    `auto.create.topics.enable=${options.autoCreateTopics === true ? 'true' : 'false'}`,
    ...(options.messageMaxBytes === undefined ? [] : [`message.max.bytes=${options.messageMaxBytes}`]),
    'num.partitions=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // A test stops the broker to make an outage: no 30 s wait for a controlled shutdown it cannot have with one node.
    'controlled.shutdown.enable=false',
    // Started again after a stop, the broker must wait for its old registration to lapse (9 s by default) before
    // it serves: short here, so an outage test's restart takes seconds.
    'broker.heartbeat.interval.ms=500',
    'broker.session.timeout.ms=2000',
    ...extra,
    '',
  ].join('\n');
  const config = join(home, 'server.properties');
  writeFileSync(config, properties);
  writeFileSync(join(home, 'log4j2.properties'), LOG4J);

  const started = Date.now();
  const tool = ['-Xmx256m', '-XX:TieredStopAtLevel=1', '-cp', classpath, 'kafka.tools.StorageTool'];
  const clusterId = (await run('java', [...tool, 'random-uuid'])).trim().split('\n').pop() ?? '';
  const scram = options.sasl === true ? ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${KAFKA_SASL_USER},password=${KAFKA_SASL_PASSWORD}]`]) : [];
  await run('java', [...tool, 'format', '-t', clusterId, '-c', config, ...scram]);

  let log = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  // A test runner that dies must not leave a JVM behind.
  const killOnExit = (): void => {
    if (exitInfo === undefined) child?.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const spawnBroker = (): void => {
    exitInfo = undefined;
    spawnError = undefined;
    const c = spawn('java', [...JVM, `-Dlog4j2.configurationFile=${join(home, 'log4j2.properties')}`, '-cp', classpath, 'kafka.Kafka', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      log = (log + chunk.toString('utf8')).slice(-LOG_KEEP);
    };
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    exited = new Promise<void>((done) => {
      c.once('exit', (code, signal) => {
        exitInfo = { code, signal };
        done();
      });
    });
    c.once('error', (err) => {
      spawnError = err;
    });
    child = c;
  };

  const stopBroker = async (): Promise<void> => {
    const c = child;
    if (c === undefined || exitInfo !== undefined) return;
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await stopBroker();
    process.removeListener('exit', killOnExit);
    rmSync(home, { recursive: true, force: true });
  };

  const waitReady = async (since: number): Promise<void> => {
    for (;;) {
      const fail = async (why: string, portTaken = false): Promise<never> => {
        await close();
        const message = `test Kafka broker (pid ${child?.pid ?? '-'}, ${bootstrap}) ${why}; last lines of its log:\n${tail(log)}`;
        throw portTaken ? new PortTakenError(message) : new Error(message);
      };
      if (spawnError !== undefined) return fail(`could not be spawned: ${spawnError.message}`);
      // The JVM's own exception class for a port in use, in its log: the one signal this child process gives.
      if (exitInfo !== undefined) return fail(`exited before it was ready (code ${exitInfo.code}, signal ${exitInfo.signal})`, log.includes('java.net.BindException'));
      const a = admin(bootstrap);
      try {
        const md = await a.metadata({ topics: [] });
        if (md.brokers.size > 0) return;
      } catch {
        // not listening yet
      } finally {
        await a.close().catch(() => undefined);
      }
      if (Date.now() - since > readyTimeoutMs) return fail(`did not answer metadata within ${readyTimeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  spawnBroker();
  await waitReady(started);
  const startupMs = Date.now() - started;

  return {
    bootstrap,
    ...(options.sasl === true ? { saslBootstrap: `127.0.0.1:${saslPort}` } : {}),
    ...(options.tls !== undefined ? { tlsBootstrap: `127.0.0.1:${tlsPort}` } : {}),
    pid: () => child?.pid ?? -1,
    startupMs,
    log: () => log,
    async createTopic(name, config = {}, partitions = 1) {
      const a = admin(bootstrap);
      try {
        await a.createTopics({ topics: [name], partitions, replicas: 1, configs: Object.entries(config).map(([n, value]) => ({ name: n, value })) });
        for (const deadline = Date.now() + 10_000; ; ) {
          const md = await a.metadata({ topics: [name], forceUpdate: true }).catch(() => undefined);
          const leaders = md?.topics.get(name)?.partitions.map((p) => p.leader) ?? [];
          if (leaders.length === partitions && leaders.every((l) => l >= 0)) return;
          if (Date.now() > deadline) throw new Error(`topic ${name} has no leader for each of its ${partitions} partitions after 10 s`);
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        await a.close().catch(() => undefined);
      }
    },
    stop: stopBroker,
    async start() {
      if (closed) throw new Error('the test Kafka broker was closed');
      if (exitInfo === undefined && child !== undefined) return;
      spawnBroker();
      await waitReady(Date.now());
    },
    close,
  };
}

/** One record read back from a topic. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: string | undefined;
  value: Buffer;
  headers: Record<string, string>;
}

/**
 * Every record in `topics` now (from the earliest offset up to the end offsets asked for first), read with the same
 * client library the sink uses. A topic that does not exist counts as empty.
 */
export async function readTopics(bootstrap: string, topics: readonly string[], timeoutMs = 30_000): Promise<ConsumedRecord[]> {
  const a = admin(bootstrap);
  let existing: string[];
  try {
    const all = new Set(await a.listTopics());
    existing = topics.filter((t) => all.has(t));
  } finally {
    await a.close().catch(() => undefined);
  }
  if (existing.length === 0) return [];
  const consumer = new Consumer({ clientId: 'testkit-reader', groupId: `testkit-${process.pid}-${Date.now()}-${Math.random()}`, bootstrapBrokers: [bootstrap], retries: 3, requestTimeout: 10_000 });
  const out: ConsumedRecord[] = [];
  try {
    const ends = await consumer.listOffsets({ topics: existing });
    let want = 0n;
    for (const offsets of ends.values()) for (const o of offsets) want += o;
    if (want === 0n) return [];
    const stream = await consumer.consume({ topics: existing, mode: 'earliest', autocommit: false, maxWaitTime: 200, sessionTimeout: 10_000, heartbeatInterval: 500 });
    const deadline = setTimeout(() => void stream.close(), timeoutMs);
    try {
      for await (const m of stream) {
        const headers: Record<string, string> = {};
        for (const [k, v] of m.headers) headers[k.toString('utf8')] = v.toString('utf8');
        out.push({ topic: m.topic, partition: m.partition, offset: m.offset, key: m.key?.toString('utf8'), value: m.value, headers });
        if (BigInt(out.length) >= want) break;
      }
    } finally {
      clearTimeout(deadline);
      await stream.close().catch(() => undefined);
    }
    if (BigInt(out.length) < want) throw new Error(`read ${out.length} of ${want} records from ${existing.join(', ')} within ${timeoutMs} ms`);
    return out;
  } finally {
    await new Promise<void>((done) => consumer.close(true, () => done()));
  }
}
