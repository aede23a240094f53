// A second process for the data directory lock tests. `open DIR`: opens the log on PGlite in DIR
// (creating it), prints "open <pid>" and holds it until killed or until stdin ends, then closes
// it. `lock DIR [MS]`: takes only the lock, prints "locked <pid>", and releases it after MS, or
// without MS when stdin ends. Either prints "refused <code> <message>" and exits 3 when refused.
import { configFromEnv, lockDataDir, openLog } from '@signet/store';

const [mode, dir, holdMs] = process.argv.slice(2);
try {
  if (mode === 'open') {
    const log = await openLog(configFromEnv({ SIGNET_DATA_DIR: dir, SIGNET_ORIGIN: 'lock.test/log' }), { init: true });
    process.stdout.write(`open ${process.pid}\n`);
    process.stdin.resume();
    process.stdin.on('end', async () => {
      await log.close();
      process.exit(0);
    });
  } else {
    const lock = await lockDataDir(dir!);
    process.stdout.write(`locked ${process.pid}\n`);
    const release = () => {
      lock.release();
      process.exit(0);
    };
    if (holdMs === undefined) {
      process.stdin.resume();
      process.stdin.on('end', release);
    } else setTimeout(release, Number(holdMs));
  }
} catch (error) {
  const e = error as { code?: string; message?: string };
  process.stdout.write(`refused ${e.code} ${e.message}\n`);
  process.exit(3);
}
