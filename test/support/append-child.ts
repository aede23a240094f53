// A process that appends forever and reports each acknowledged event on stdout, for the crash
// test to kill with SIGKILL. Config comes from the environment like the real server's.
import { configFromEnv, openLog } from '@signet/store';
import { foreignDraft } from './drafts.js';

const log = await openLog(configFromEnv(), { init: true });
process.stdout.write('ready\n');
let next = 0;
async function appender(): Promise<never> {
  for (;;) {
    const ids = Array.from({ length: 1 + (next % 4) }, () => next++);
    const drafts = ids.map((id) => {
      const data = { id, pid: process.pid };
      return foreignDraft({ type: 'TestRecorded', v: 1, stream: 'crash', actor: 'log', data, evidence: null });
    });
    const events = await log.writer.append(drafts);
    // Pipes are synchronous on Linux: once written, the parent has it even if we die next.
    process.stdout.write(events.map((e, k) => `ack ${e.seq} ${process.pid}:${ids[k]}\n`).join(''));
  }
}
await Promise.all(Array.from({ length: 8 }, appender));
