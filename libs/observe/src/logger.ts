import type { LoggerService } from '@nestjs/common';
import { type DestinationStream, type Level, type Logger, pino } from 'pino';
import type { LogLevelName } from '@signet/store';
import { LineWriter } from './line-writer.js';

export type { Logger } from 'pino';

/** Where log lines go: stdout unless a test gives its own. */
export interface LogOutput {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

export interface LogOptions {
  /** The process (`api`, `worker`): each line's `name`. */
  readonly name: string;
  readonly level: LogLevelName;
  /** `auto`: readable text on a terminal, one JSON object per line otherwise. */
  readonly format: 'auto' | 'json' | 'pretty';
  readonly output?: LogOutput;
  /** Environment consulted for NO_COLOR. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The process's logger: one JSON object per line (`level` as a word, `time` in ISO 8601, `pid`,
 * `hostname`, `name`, the line's own fields, `msg`). On stdout the lines of up to 10 ms are
 * written together (LineWriter), so logging every request costs a fraction of a system call each.
 * Readable text only on a terminal, or when asked; colours only on a terminal, and never with NO_COLOR.
 */
export function createLogger(options: LogOptions): Logger {
  const output = options.output ?? process.stdout;
  const pretty = options.format === 'pretty' || (options.format === 'auto' && output.isTTY === true);
  let destination: DestinationStream;
  if (pretty) {
    const colour = output.isTTY === true && !(options.env ?? process.env).NO_COLOR;
    destination = { write: (line: string) => void output.write(prettyLine(line, colour)) };
  } else if (output === process.stdout) {
    destination = new LineWriter(process.stdout.fd, {
      onDropped: (lines) =>
        logger.warn({ dropped: lines }, `${lines} log lines dropped: stdout was not read fast enough`),
    });
  } else {
    destination = output as DestinationStream;
  }
  const logger = pino(
    {
      name: options.name,
      level: options.level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return logger;
}

/** A string as a JSON string literal; the common case (printable ASCII, no quote or backslash) without JSON.stringify. */
export function jsonString(s: string): string {
  return /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(s) ? `"${s}"` : JSON.stringify(s);
}

/**
 * Info lines of a hot path, in exactly the form `logger.info(fields, msg)` gives, built from
 * fields already in JSON (`,"key":value…`) and written to the logger's destination: pino's
 * generic serialization costs a few microseconds a line, which a request answered in twenty
 * would feel. Nothing is written when the logger's level, as it is now, is above info.
 */
export function infoLines(logger: Logger): (jsonFields: string, msg: string) => void {
  const stream = (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!;
  // The logger's bindings (pid, hostname, name, and a child's own), already serialized by pino.
  const bindings = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? '';
  let lastMs = 0;
  let lastTime = '';
  // A hot path writes the same message each time: it is serialized once.
  let lastMsg = '';
  let lastMsgJson = '""';
  if (!logger.isLevelEnabled('info')) return () => {};
  return (jsonFields, msg) => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastTime = new Date(now).toISOString();
    }
    if (msg !== lastMsg) {
      lastMsg = msg;
      lastMsgJson = jsonString(msg);
    }
    stream.write(`{"level":"info","time":"${lastTime}"${bindings}${jsonFields},"msg":${lastMsgJson}}\n`);
  };
}

const COLOURS: Record<string, string> = {
  fatal: '\x1b[41m',
  error: '\x1b[31m',
  warn: '\x1b[33m',
  info: '\x1b[32m',
  debug: '\x1b[34m',
  trace: '\x1b[90m',
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
const OWN_FIELDS = new Set(['level', 'time', 'name', 'pid', 'hostname', 'msg', 'context']);

/** One JSON line as a person reads it: `10:00:00.123 INFO  [context] message key=value …`. */
export function prettyLine(json: string, colour: boolean): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = String(record.level ?? '');
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
  const paint = (code: string | undefined, text: string) => (colour && code ? `${code}${text}${RESET}` : text);
  const context = record.context ? `[${String(record.context)}] ` : '';
  const fields = Object.entries(record)
    .filter(([key]) => !OWN_FIELDS.has(key))
    .map(([key, value]) => {
      if (key === 'err' && value && typeof value === 'object' && 'stack' in value) return `\n${String(value.stack)}`;
      return `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
    });
  const rest = fields.length > 0 ? ` ${paint(DIM, fields.join(' '))}` : '';
  return `${paint(DIM, time)} ${paint(COLOURS[level], level.toUpperCase().padEnd(5))} ${context}${String(record.msg ?? '')}${rest}\n`;
}

/** Nest's start-up chatter (modules loaded, every route mapped): debug, not info. */
const FRAMEWORK_CONTEXTS = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
  'NestApplicationContext',
]);

const looksLikeStack = (s: string) => /\n\s+at /.test(s);

/**
 * Nest's LoggerService on a pino logger, so Nest's own lines and every `new Logger(context)` in
 * the apps come out as JSON lines with a `context` field. Nest passes the context last, and an
 * error's stack before it.
 */
export class NestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }
  /** The level is SIGNET_LOG_LEVEL's; Nest's own setting is not used. */
  setLogLevels(): void {}

  private write(level: Level, message: unknown, params: unknown[]): void {
    const rest = params.filter((p) => p !== undefined);
    const last = rest.at(-1);
    const context = typeof last === 'string' && !looksLikeStack(last) ? (rest.pop() as string) : undefined;
    if (level === 'info' && context && FRAMEWORK_CONTEXTS.has(context)) level = 'debug';
    if (!this.logger.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    if (context) fields.context = context;
    const stack = rest.length > 0 && typeof rest[0] === 'string' && looksLikeStack(rest[0]) ? rest.shift() : undefined;
    if (stack) fields.stack = stack;
    if (rest.length > 0) fields.extra = rest;
    if (message instanceof Error) {
      fields.err = message;
      this.logger[level](fields, message.message);
    } else if (typeof message === 'string') {
      this.logger[level](fields, message);
    } else {
      fields.data = message;
      this.logger[level](fields);
    }
  }
}
