// The package as published: precise types, and the bundler and web builds as well as Node's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { promisify } from "node:util";

import { errorCodes, x25519 } from "hem-auth-wasm";

const crate = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(crate, "package.json"), "utf8"));

test("the .d.ts is precise: no any, and HemErrorCode is the Rust list of codes", () => {
  for (const target of ["node", "bundler", "web"]) {
    const dts = readFileSync(join(crate, "pkg", target, "hem_auth_wasm.d.ts"), "utf8");
    // The web build ends with its loader's types (init, and the raw exports as `any`): the
    // package's API is what comes before.
    const ours = dts.split("export type InitInput")[0];
    const api = ours.split("\n").filter((l) => !/^\s*(\*|\/\*\*)/.test(l)).join("\n");
    assert.doesNotMatch(api, /\bany\b/, `${target}: an \`any\` in the API`);
    const union = dts.match(/export type HemErrorCode =([\s\S]*?);/)[1];
    const codes = [...union.matchAll(/"([a-z0-9_.]+)"/g)].map((m) => m[1]);
    assert.deepEqual(codes, errorCodes(), `${target}: HemErrorCode`);
    for (const cls of ["ExtAuth", "PairingSession", "LoginChallenge", "UserKey", "UnverifiedPairingRequest", "PairingAnswer", "AuthenticatorPairing", "OpenedEvent"]) {
      assert.match(api, new RegExp(`export class ${cls} `), cls);
    }
    assert.match(api, /verifyAuthreq\(authreq: string, now: UnixSeconds\): VerifiedAuthreq;/);
    assert.match(api, /static start\(scope: string, eid: Base64, ctx\?: string \| null, note\?: string \| null\): ExtAuth;/);
  }
});

test("package.json points at files the build made", () => {
  const entries = [pkg.main, pkg.types, ...Object.values(pkg.exports).flatMap((e) => (typeof e === "string" ? [e] : Object.values(e)))];
  for (const entry of entries) readFileSync(join(crate, entry));
});

const ALICE = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
const BOB_PUBLIC = "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=";
const SHARED = "Sl2dW6TOLeFyjjv0gDUPJeB+IclH0Z4zdvCbPB4WF0I=";

test("the Node build: import and require", async () => {
  assert.equal(x25519(ALICE, BOB_PUBLIC), SHARED);
  const { createRequire } = await import("node:module");
  const required = createRequire(import.meta.url)("hem-auth-wasm");
  assert.equal(required.x25519(ALICE, BOB_PUBLIC), SHARED);
});

const run = (args, code) =>
  promisify(execFile)(process.execPath, [...args, "--input-type=module", "-e", code], { cwd: crate });

test("the bundler build (an ES module importing the .wasm) loads and works", async () => {
  // Node imports a .wasm module behind a flag; bundlers do it natively.
  const { stdout } = await run(
    ["--experimental-wasm-modules", "--no-warnings"],
    `import { x25519, errorCodes } from "./pkg/bundler/hem_auth_wasm.js";
     console.log(x25519(${JSON.stringify(ALICE)}, ${JSON.stringify(BOB_PUBLIC)}), errorCodes().length);`,
  );
  assert.equal(stdout.trim(), `${SHARED} ${errorCodes().length}`);
});

test("the web build: init with the module bytes, then the same API", async () => {
  const { stdout } = await run(
    [],
    `import { readFileSync } from "node:fs";
     import init, { x25519 } from "hem-auth-wasm/web";
     await init({ module_or_path: readFileSync("pkg/web/hem_auth_wasm_bg.wasm") });
     console.log(x25519(${JSON.stringify(ALICE)}, ${JSON.stringify(BOB_PUBLIC)}));`,
  );
  assert.equal(stdout.trim(), SHARED);
});
