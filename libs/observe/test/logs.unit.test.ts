import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LineWriter, NestLogger, createLogger, infoLines, jsonString, prettyLine } from '@signet/observe';

/** A logger writing JSON lines into an array. */
function captured(level: 'info' | 'debug' | 'warn' = 'info') {
  const lines: string[] = [];
  const logger = createLogger({ name: 'api', level, format: 'json', output: { write: (s: string) => lines.push(s) } });
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, records };
}

describe('the JSON logs', () => {
  it('one JSON object per line: level as a word, ISO time, name, pid, hostname, msg', () => {
    const { logger, lines, records } = captured();
    logger.child({ context: 'x' }).info({ n: 1 }, 'hello');
    logger.debug('not at info');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('}\n')).toBe(true);
    expect(lines[0]!.slice(0, -1)).not.toContain('\n');
    expect(records()[0]).toEqual({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      pid: process.pid,
      hostname: expect.any(String),
      name: 'api',
      context: 'x',
      n: 1,
      msg: 'hello',
    });
  });

  it("Nest's lines: the context from the last argument, an error's stack, start-up chatter at debug", () => {
    const { logger, records } = captured();
    const nest = new NestLogger(logger);
    nest.log('serving', 'signet');
    nest.warn('careful', 'workers');
    nest.error('boom', 'Error: boom\n    at x (y.js:1:1)', 'http');
    nest.error(new Error('thrown'), undefined, 'signet');
    nest.log('Mapped {/log, GET} route', 'RouterExplorer');
    nest.log({ some: 'object' });
    expect(records().map(({ level, context, msg, stack }) => ({ level, context, msg, stack }))).toEqual([
      { level: 'info', context: 'signet', msg: 'serving', stack: undefined },
      { level: 'warn', context: 'workers', msg: 'careful', stack: undefined },
      { level: 'error', context: 'http', msg: 'boom', stack: 'Error: boom\n    at x (y.js:1:1)' },
      { level: 'error', context: 'signet', msg: 'thrown', stack: undefined },
      { level: 'info', context: undefined, msg: undefined, stack: undefined },
    ]);
    const [, , , thrown, object] = records();
    expect(thrown!.err).toMatchObject({ type: 'Error', message: 'thrown', stack: expect.stringContaining('at ') });
    expect(object!.data).toEqual({ some: 'object' });
    const debug = captured('debug');
    new NestLogger(debug.logger).log('Mapped {/log, GET} route', 'RouterExplorer');
    expect(debug.records()[0]).toMatchObject({ level: 'debug', context: 'RouterExplorer' });
  });

  it('a hot-path line (infoLines) is exactly what pino writes for the same fields, and nothing above info', () => {
    const { logger, lines, records } = captured();
    const access = logger.child({ context: 'access' });
    access.info({ reqId: 'r-1', url: '/a"b\\c\u2028é\x01', status: 200, responseTime: 1.5 }, 'request completed');
    infoLines(access)(
      `,"reqId":${jsonString('r-1')},"url":${jsonString('/a"b\\c\u2028é\x01')},"status":200,"responseTime":1.5`,
      'request completed',
    );
    const [byPino, byHand] = records();
    expect({ ...byHand, time: 0 }).toEqual({ ...byPino, time: 0 });
    expect(lines[1]!.slice(0, -1)).not.toContain('\n');
    const quiet = captured('warn');
    infoLines(quiet.logger)(',"a":1', 'x');
    expect(quiet.lines).toEqual([]);
  });

  it('jsonString is JSON.stringify', () => {
    for (const s of [
      '',
      'plain /path?q=1',
      'quote"',
      'back\\slash',
      'tab\t',
      'nul\0',
      'é',
      '\u2028',
      '\ud800',
      '<script>',
    ])
      expect(jsonString(s)).toBe(JSON.stringify(s));
  });

  it('the readable form: colours only when asked (a terminal), the fields after the message', () => {
    const line = JSON.stringify({
      level: 'warn',
      time: '2026-12-05T10:00:00.123Z',
      name: 'api',
      context: 'http',
      msg: 'slow',
      ms: 3,
    });
    expect(prettyLine(line, false)).toBe('10:00:00.123 WARN  [http] slow ms=3\n');
    expect(prettyLine(line, true)).toContain('\x1b[33mWARN ');
    expect(prettyLine('not json', true)).toBe('not json');
    const { lines } = (() => {
      const out: string[] = [];
      // Not a terminal: the JSON form, however the process was told to log (auto).
      createLogger({
        name: 'api',
        level: 'info',
        format: 'auto',
        output: { write: (s) => out.push(s), isTTY: false },
      }).info('x');
      return { lines: out };
    })();
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'x' });
    const tty: string[] = [];
    createLogger({
      name: 'api',
      level: 'info',
      format: 'auto',
      output: { write: (s) => tty.push(s), isTTY: true },
      env: { NO_COLOR: '1' },
    }).info('y');
    expect(tty[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}y\n$/);
  });

  it('LineWriter: lines written in order, together, at the latest after its delay or when asked', async () => {
    const file = join(tmpdir(), `signet-lines-${process.pid}-${Date.now()}`);
    const fd = openSync(file, 'w');
    try {
      const writer = new LineWriter(fd, { maxDelayMs: 20, bufferBytes: 400 });
      writer.write('a\n');
      writer.write('b\n');
      expect(readFileSync(file, 'utf8')).toBe('');
      await new Promise((r) => setTimeout(r, 60));
      expect(readFileSync(file, 'utf8')).toBe('a\nb\n');
      writer.write(`${'c'.repeat(150)}\n`);
      expect(readFileSync(file, 'utf8')).toBe(`a\nb\n${'c'.repeat(150)}\n`);
      writer.write('d\n');
      writer.flushSync();
      expect(readFileSync(file, 'utf8').endsWith('d\n')).toBe(true);
    } finally {
      closeSync(fd);
      rmSync(file, { force: true });
    }
  });
});
