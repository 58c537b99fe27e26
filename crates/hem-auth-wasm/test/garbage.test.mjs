// Garbage into every exported function, static method, method and getter: each either returns
// or throws a HemError (an argument of the wrong class, or a freed object, is refused by the
// wasm-bindgen glue with a plain Error naming it). Never a WebAssembly trap (a panic), and the
// module works afterwards.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import * as client from "hem-auth-wasm";
import * as device from "hem-auth-wasm/device";

const hem = client;

const b64 = (n) => randomBytes(n).toString("base64");

const cyclic = {};
cyclic.self = cyclic;
const hostile = new Proxy(
  {},
  {
    get() {
      throw new Error("hostile get");
    },
    ownKeys() {
      throw new Error("hostile ownKeys");
    },
  },
);

/** One value of every kind JavaScript has, and some awkward ones of the expected kinds. */
const GARBAGE = [
  undefined,
  null,
  0,
  -1,
  1.5,
  NaN,
  Infinity,
  2 ** 53,
  1e300,
  10n,
  true,
  "",
  "x",
  "\ud800",
  "\u0000\u001b[2K",
  "A".repeat(70_000),
  "eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
  "{}",
  '{"jti":1}',
  "null",
  Symbol("s"),
  {},
  [],
  [1, 2],
  new Uint8Array(0),
  new Uint8Array([0xff, 0xfe, 0x00]),
  new ArrayBuffer(4),
  new Date(0),
  () => 1,
  cyclic,
  hostile,
  { jti: 1, scope: {}, epk: null, exp: "x" },
];

function isRefusal(e) {
  if (e instanceof WebAssembly.RuntimeError) return false;
  if (hem.isHemError(e)) {
    assert.ok(hem.errorCodes().includes(e.code), `unlisted code ${e.code}`);
    return true;
  }
  // The glue's own refusals: a class argument that is not an instance of that class, an
  // object used after free().
  return e instanceof Error && /expected instance of|null pointer passed to rust/.test(e.message);
}

/** Calls `fn` with every garbage list; counts the calls. */
function hammer(label, fn, arity) {
  let calls = 0;
  const lists = [[]];
  for (const g of GARBAGE) {
    lists.push(Array(Math.max(arity, 1)).fill(g));
    for (let i = 0; i < arity; i++) {
      const args = Array(arity).fill("keymgmt:list");
      args[i] = g;
      lists.push(args);
    }
  }
  for (const args of lists) {
    calls++;
    try {
      fn(...args);
    } catch (e) {
      assert.ok(isRefusal(e), `${label}(${args.map(show).join(", ")}) threw ${e?.stack ?? e}`);
    }
  }
  return calls;
}

function show(v) {
  if (typeof v === "string") return v.length > 20 ? `"${v.slice(0, 20)}…"` : JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "symbol") return v.toString();
  if (v === hostile) return "Proxy";
  try {
    return Object.prototype.toString.call(v);
  } catch {
    return "?";
  }
}

/** A live instance of every exported class, from valid inputs. */
function instances(hem) {
  const eidPrivate = b64(32);
  const eid = hem.publicKeyOf(eidPrivate);
  const epk = hem.publicKeyOf(b64(32));
  const aidPrivate = b64(32);
  const key = hem.UserKey.fromPrivateKey(b64(32));
  const challenge = hem.LoginChallenge.parse(
    JSON.stringify({ exp: 2_000_000_000, spk: epk, jti: b64(32), lbl: "x", eid }),
  );
  const ext = hem.ExtAuth.start("keymgmt:list", eid);
  const pairingSession = hem.PairingSession.start(eid);
  const request = hem.UnverifiedPairingRequest.fromClaims({
    jti: b64(32),
    exp: 2_000_000_000,
    aud: epk,
    iss: eid,
  });
  const answer = request.reply("phone", "fid");
  const pairing = hem.AuthenticatorPairing.fromPrivateKey(b64(32), eid, aidPrivate);
  const s1 = hem.x25519(aidPrivate, eid);
  const jti = b64(32);
  const broker = hem.NotifyBroker && new hem.NotifyBroker();
  const device = hem.Device && new hem.Device({ userKey: key.publicKey, backendKey: broker.backendKey });
  const opened = () =>
    pairing.openEvent(
      { jti, scope: hem.sealScope(s1, jti, "keymgmt:list"), epk, exp: 2_000_000_000 },
      1_800_000_000,
    );
  return {
    UserKey: () => key,
    LoginChallenge: () => challenge,
    ExtAuth: () => ext,
    PairingSession: () => pairingSession,
    UnverifiedPairingRequest: () => request,
    PairingAnswer: () => answer,
    AuthenticatorPairing: () => pairing,
    OpenedEvent: opened,
    Device: () => device,
    NotifyBroker: () => broker,
  };
}

function garbageTest(hem, label) {
  const live = instances(hem);
  let calls = 0;
  const covered = [];
  for (const [name, value] of Object.entries(hem)) {
    if (typeof value !== "function") continue;
    const isClass = /^class\s/.test(Function.prototype.toString.call(value));
    if (!isClass) {
      calls += hammer(name, value, value.length || 3);
      covered.push(name);
      continue;
    }
    assert.ok(live[name], `no live instance of the class ${name}: add it to instances()`);
    for (const member of Object.getOwnPropertyNames(value)) {
      if (["length", "name", "prototype"].includes(member) || member.startsWith("__")) continue;
      const fn = value[member];
      if (typeof fn !== "function") continue;
      calls += hammer(`${name}.${member}`, (...args) => fn.apply(value, args), fn.length || 3);
      covered.push(`${name}.${member}`);
    }
    for (const member of Object.getOwnPropertyNames(value.prototype)) {
      // free() and the glue's own __destroy_into_raw end the object: tested apart below.
      if (member === "constructor" || member === "free" || member.startsWith("__")) continue;
      const d = Object.getOwnPropertyDescriptor(value.prototype, member);
      const instance = live[name]();
      if (d.get) {
        try {
          d.get.call(instance);
        } catch (e) {
          assert.ok(isRefusal(e), `${name}.${member} (getter) threw ${e}`);
        }
        calls++;
      }
      if (typeof d.value === "function") {
        calls += hammer(`${name}#${member}`, (...args) => d.value.apply(live[name](), args), d.value.length || 3);
      }
      covered.push(`${name}#${member}`);
    }
  }
  // Methods on a freed object, and on something that is no instance at all.
  const freed = live.ExtAuth();
  freed.free();
  for (const call of [() => freed.epk, () => freed.tokenBody("x"), () => hem.ExtAuth.prototype.tokenBody.call({}, "x")]) {
    assert.throws(call, (e) => isRefusal(e));
  }
  // The device still answers afterwards.
  if (hem.Device) assert.equal(live.Device().handle({ path: "/api/system/version" }).status, 200);
  // Still sound afterwards: the x25519 test vector of RFC 7748 §6.1.
  const alice = Buffer.from("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", "hex");
  const bob = Buffer.from("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", "hex");
  assert.equal(
    Buffer.from(hem.x25519(alice.toString("base64"), bob.toString("base64")), "base64").toString("hex"),
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
  );
  console.log(`garbage (${label}): ${calls} calls over ${covered.length} exports and members, no trap`);
}

test("garbage into every export of hem-auth-wasm: a HemError or a value, never a trap", () =>
  garbageTest(client, "hem-auth-wasm"));
test("garbage into every export of hem-auth-wasm/device, Device and NotifyBroker included", () => {
  assert.equal(typeof device.Device, "function");
  assert.equal(client.Device, undefined, "the device stays out of the client build");
  garbageTest(device, "hem-auth-wasm/device");
});
