#!/usr/bin/env node
// A container's health check, with nothing but Node (the image has no curl): exit 0 when the URL
// answers 2xx within 4 s, 1 otherwise. Default: this container's API, /readyz on $PORT.
const url = process.argv[2] ?? `http://127.0.0.1:${process.env.PORT || 3000}/readyz`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
