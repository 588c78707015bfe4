// `run --config FILE`: the daemon. SIGTERM/SIGINT stop polling, finish in-flight deliveries, close cleanly.
import { buildCollector, type Collector } from '../app.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { shardIndex, shardPlan } from '../config/sharding.js';
import { ApiError, ConfigError, describeError, isAbort, isCollectorError } from '../core/errors.js';
import { INCORRECT_REGION } from '../mimecast/responses.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { startStatusServer, type StatusServer } from '../telemetry/status-server.js';
import { println, type CommandIo } from './io.js';
import { printConfigError } from './validate.js';

/** Codes that mean the credentials themselves are wrong: no point starting. */
const FATAL_AT_START = new Set(['API_AUTH_FAILED', 'API_PERMISSION_DENIED']);

export async function runCommand(file: string, io: CommandIo): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(file, io.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      printConfigError(err, io);
      return 1;
    }
    throw err;
  }
  const logger = createLogger({ level: config.log_level });
  if (config.sharding !== undefined) {
    let index: number;
    try {
      index = shardIndex(config.sharding, io.env);
    } catch (err) {
      if (err instanceof ConfigError) {
        printConfigError(err, io);
        return 1;
      }
      throw err;
    }
    const plan = shardPlan(config.accounts.map((a) => a.name), config.sharding.count);
    const mine = new Set(plan[index]);
    logger.info(
      { shard: index, shards: config.sharding.count, accounts: [...mine], other_accounts: config.accounts.length - mine.size },
      mine.size === 0 ? 'sharding: no account falls to this collector; it runs idle (more shards than accounts?)' : 'sharding: this collector collects its share of the accounts',
    );
    config = { ...config, accounts: config.accounts.filter((a) => mine.has(a.name)) };
  }
  return runCollector(config, logger, io);
}

/** Runs a collector until io.signal fires; shared by `run` and `demo`. */
export async function runCollector(config: Config, logger: Logger, io: CommandIo, onStarted?: (c: Collector, status?: StatusServer) => void, command = 'run'): Promise<number> {
  let collector: Collector;
  try {
    collector = buildCollector(config, logger, {
      command,
      // The log says it too; stderr is what a person starting the collector by hand reads.
      onSinkStopped: (sink, message) => {
        const i = config.sinks.findIndex((s) => s.name === sink);
        println(io.stderr, `error: sinks[${i}] (${sink}) stopped: ${message}. Fix its configuration and restart; its events are kept in the journal and the other sinks go on.`);
      },
    });
  } catch (err) {
    println(io.stderr, `error: ${describeError(err)}`);
    return 1;
  }
  // Every internal timer is unref()ed (a 429 pause at start-up included); this one keeps the process alive until we return.
  const alive = setInterval(() => undefined, 1 << 30);
  try {
    return await runBuilt(collector, config, logger, io, onStarted);
  } finally {
    clearInterval(alive);
  }
}

async function runBuilt(collector: Collector, config: Config, logger: Logger, io: CommandIo, onStarted?: (c: Collector, status?: StatusServer) => void): Promise<number> {
  // The status endpoints and the delivery of what the journal already holds need nothing from Mimecast: they start
  // before the credential check, which a slow or unreachable API can hold for request_timeout (call_deadline at
  // most) per account, so /healthz answers and the backlog flows meanwhile.
  let status: StatusServer | undefined;
  if (config.http !== undefined) {
    try {
      status = await startStatusServer(config.http.listen, collector.pipeline, collector.journal, logger, {
        unreadyAfterMs: config.http.unready_after,
        accounts: () => collector.accountStatus(),
        metrics: collector.metrics.handle,
      });
      logger.info({ url: status.url }, 'status endpoints listening');
    } catch (err) {
      println(io.stderr, `error: http.listen ${config.http.listen}: ${describeError(err)}`);
      await collector.stop();
      return 1;
    }
  }
  const stop = async (): Promise<void> => {
    await status?.close();
    await collector.stop();
  };
  collector.startSinks();
  try {
    await collector.verifyCredentials(io.signal);
  } catch (err) {
    if (isAbort(err, io.signal)) {
      await stop();
      return 0;
    }
    // A wrong API 1.0 region is a config mistake every call would repeat.
    if ((isCollectorError(err) && FATAL_AT_START.has(err.code)) || (err instanceof ApiError && err.apiCode === INCORRECT_REGION)) {
      const account = err.details['account'];
      println(io.stderr, `error: ${typeof account === 'string' ? `account ${account}: ` : ''}${describeError(err)}`);
      await stop();
      return 1;
    }
    logger.warn({ err: describeError(err) }, 'could not check credentials at start-up; starting anyway, sources will retry');
  }
  collector.start();
  logger.info(
    { accounts: config.accounts.map((a) => a.name), sinks: config.sinks.map((s) => s.name), data_dir: config.data_dir },
    'collector started',
  );
  onStarted?.(collector, status);
  if (!io.signal.aborted) await new Promise<void>((resolve) => io.signal.addEventListener('abort', () => resolve(), { once: true }));
  logger.info('stopping: finishing in-flight deliveries');
  await stop();
  logger.info('stopped');
  return 0;
}
