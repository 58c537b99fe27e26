// The README's examples run as written: every ```js block is written to a module inside the
// package (so `import "hem-auth-wasm"` resolves to this package) and run with node. A block
// that calls a device (it names http://127.0.0.1:8080) runs against a fresh hem-emulator: the
// device URL and the pinned eid in the block become the emulator's; nothing else changes.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { promisify } from "node:util";

import { startEmulator } from "./support/emulator.mjs";

const crate = fileURLToPath(new URL("..", import.meta.url));
const readme = readFileSync(join(crate, "README.md"), "utf8");
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
const DEVICE = "http://127.0.0.1:8080";
const README_EID = /const eid = "[A-Za-z0-9+/=]{44}";/;
const dir = join(crate, "pkg", "readme");
mkdirSync(dir, { recursive: true });

let emulator;
after(async () => {
  await emulator?.stop();
});

test("the README shows the uses in runnable blocks", () => {
  assert.ok(blocks.length >= 3, `only ${blocks.length} js blocks`);
  assert.ok(blocks.some((b) => b.includes("verifyResponse")), "verify before forwarding");
  assert.ok(blocks.some((b) => b.includes("openEvent") && b.includes("approve")), "the phone");
  assert.ok(blocks.some((b) => b.includes("new Device") && b.includes("createFetch")), "the device in process");
});

blocks.forEach((block, i) => {
  const firstLine = block.split("\n").find((l) => l && !l.startsWith("import")) ?? "";
  test(`README block ${i + 1} runs (${firstLine.slice(0, 50)})`, async () => {
    let code = block;
    if (code.includes(DEVICE)) {
      emulator ??= await startEmulator([], { password: "correct horse battery staple" });
      code = code.replaceAll(DEVICE, emulator.url).replace(README_EID, `const eid = "${emulator.eid}";`);
    }
    const path = join(dir, `block-${i + 1}.mjs`);
    writeFileSync(path, code);
    const { stdout } = await promisify(execFile)(process.execPath, [path], { cwd: crate });
    assert.ok(stdout.trim().length > 0, "the example prints its result");
    if (block.includes("createFetch")) {
      // The device example prints what its comments say.
      assert.deepEqual(stdout.trim().split("\n"), ["200 true", "401", "true 200"]);
    }
  });
});
