import { test } from "node:test";
import * as assert from "node:assert/strict";
import { RestartPolicy } from "../../logic/restartPolicy";

const opts = { initialDelayMs: 1000, maxDelayMs: 8000, maxCrashes: 5, windowMs: 60000, stableAfterMs: 30000 };

test("delays double up to the cap", () => {
  const p = new RestartPolicy(opts);
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    p.started(i * 100);
    const d = p.crashed(i * 100 + 50);
    assert.equal(d.restart, true);
    if (d.restart) delays.push(d.delayMs);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000]);
});

test("gives up after too many crashes in the window, with a reason", () => {
  const p = new RestartPolicy(opts);
  for (let i = 0; i < 5; i++) p.crashed(i);
  const d = p.crashed(10);
  assert.equal(d.restart, false);
  if (!d.restart) assert.match(d.reason, /crashed 6 times in 1 minutes.*Restart server/);
});

test("crashes older than the window are forgotten", () => {
  const p = new RestartPolicy(opts);
  for (let i = 0; i < 5; i++) p.crashed(i);
  const d = p.crashed(70000);
  assert.deepEqual(d, { restart: true, delayMs: 1000, attempt: 1 });
});

test("a server that ran long enough starts the backoff over", () => {
  const p = new RestartPolicy(opts);
  p.crashed(0);
  p.crashed(10);
  p.started(20);
  assert.deepEqual(p.crashed(20 + 30000), { restart: true, delayMs: 1000, attempt: 1 });
});

test("reset (manual restart) forgets past crashes", () => {
  const p = new RestartPolicy(opts);
  for (let i = 0; i < 6; i++) p.crashed(i);
  p.reset();
  assert.equal(p.crashed(7).restart, true);
});
