import { test } from "node:test";
import * as assert from "node:assert/strict";
import { defAt, pythonDefs } from "../../logic/pythonDefs";

const SOURCE = `import math

class Basket(object):
    """Items with prices."""

    def __init__(self, prices):
        self.prices = list(prices)

    @staticmethod
    async def tax(amount):
        def helper(x):
            return x
        return helper(amount)

def total(values):
    def inner(v):
        return v
    return sum(map(inner, values))

if True:
    def hidden():
        pass

class Empty: pass
def after():
    pass
`.split("\n");

test("top-level functions and the methods of top-level classes, named as the server names them", () => {
  assert.deepEqual(pythonDefs(SOURCE), [
    { name: "Basket.__init__", line: 5 },
    { name: "Basket.tax", line: 9 },
    { name: "total", line: 14 },
    { name: "after", line: 24 },
  ]);
});

test("a cursor in a nested def belongs to the function around it", () => {
  const defs = pythonDefs(SOURCE);
  assert.equal(defAt(defs, 11), "Basket.tax"); // inside helper, nested in the method
  assert.equal(defAt(defs, 16), "total"); // inside inner
  assert.equal(defAt(defs, 0), undefined);
});
