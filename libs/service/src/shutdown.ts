/**
 * On SIGTERM or SIGINT: say so, run `stop` (finish what is in flight), then exit 0 — or 1 if
 * stopping failed. For the processes' main modules.
 */
export function exitOnSignals(
  stop: () => Promise<unknown>,
  log: { log(message: string): void; error(message: unknown): void },
  doing: string,
): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.log(`${signal}: ${doing}`);
      stop().then(
        () => process.exit(0),
        (error: unknown) => {
          log.error(error);
          process.exit(1);
        },
      );
    });
  }
}
