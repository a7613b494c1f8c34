import { test } from "node:test";
import * as assert from "node:assert/strict";
import { repairOutcome } from "../../logic/repairOutcome";

test("a verified repair is good news", () => {
  const outcome = repairOutcome("Repair with SemCoder (verified)", true);
  assert.equal(outcome?.level, "info");
  assert.match(outcome!.message, /pass when run/);
});

test("an unverified repair is applied with a warning", () => {
  const outcome = repairOutcome("Repair with SemCoder (unverified)", true);
  assert.equal(outcome?.level, "warning");
  assert.match(outcome!.message, /not verified/);
});

test("a repair with no edit says why nothing changed", () => {
  assert.deepEqual(repairOutcome("Repair with SemCoder: no model configured", false), {
    level: "warning",
    message: "SemCoder could not repair the function: no model configured.",
  });
  assert.equal(repairOutcome("Repair with SemCoder", false)?.message, "SemCoder could not repair the function.");
});

test("other actions are left alone", () => {
  assert.equal(repairOutcome("Organize imports", true), undefined);
  assert.equal(repairOutcome("Organize imports", false), undefined);
});
