import { pino, type Logger, type DestinationStream } from 'pino';

/**
 * Structured logs go to stderr so that stdout carries only what a user or script asked for.
 * `json` is pino's own line format; `pretty` prints the same records as `level msg key=value`.
 */
let logger: Logger = pino({ level: process.env.NETLAB_LOG_LEVEL ?? 'warn' }, prettyStderr());

export type LogFormat = 'pretty' | 'json';

export function configureLogging(level: string, format: LogFormat): void {
  logger = format === 'json' ? pino({ level }, pino.destination(2)) : pino({ level }, prettyStderr());
}

export function log(): Logger {
  return logger;
}

function prettyStderr(): DestinationStream {
  return {
    write(line: string) {
      const { level, msg, time: _t, pid: _p, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
      const fields = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      process.stderr.write(`${pino.levels.labels[level as number] ?? level} ${msg ?? ''}${fields ? ' ' + fields : ''}\n`);
    },
  };
}
