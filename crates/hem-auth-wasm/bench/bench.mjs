// `npm run bench`: the same operations through the package (Node, WebAssembly, the JS
// boundary included) and natively (examples/native_bench.rs, run here, in the same run), as
// nanoseconds per operation and ratios. Builds nothing: run `npm run build` first. The device
// rows are `Device.handle` (request object in, response object out) against the core's
// `Device::handle`: a bearer GET, and one ext/token.
//
//   node bench/bench.mjs [--json]
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

import { AuthenticatorPairing, ExtAuth, publicKeyOf, x25519 } from "hem-auth-wasm";
// The device build: the device calls, with its own client and phone classes.
import * as dev from "hem-auth-wasm/device";

const AUTHREQ =
  "eyJlY2RoIjoieDI1NTE5IiwidHlwIjoiSldUIiwiYWxnIjoiSFMyNTYifQ.eyJpc3MiOiJyY1BGOVhFdnBzRjZ0UFczUFR2YnVDMlVDcUMrMGtDT0p1WC9rZ1kxdVRrPSIsImF1ZCI6IjlQZ1NIUlZJUFdMdno5Z1diQ0lYazg0NzVaZVJod0xDd0c5cGs1aWJ1R009IiwiaWF0IjoxNzg0NzY3NzY0LCJleHAiOjE3ODQ3NzEzNjQsImp0aSI6IkZHVmhhcGRhZCs4YXA5eDZ0MFVRQi8yTzFHL3ZhYml0aXNqWmRRVHhKME09IiwiY3R4IjoiZml4dHVyZS1jdHgiLCJzY29wZSI6eyJTbXVQT04zWDFFZVJoL3JrMlZ0VkZCc3k2UFJxWktsdk1SZ0NOZDZqbkdrPSI6IkE4Yk9UL291MFBOa1RISCsxU3I1NzAwK29yL0ZvQkZ5bFlXVjVJWjhCeFFaa2c1NUVvWEVsZ0JxSVBOVmJwdFFvIn19.Ch2QfHydtkSmCOBwkS7JZg7FxiKUlC8nOx8xeRmzRbg";
const EID = "rcPF9XEvpsF6tPW3PTvbuC2UCqC+0kCOJuX/kgY1uTk=";
const SESSION_KEY = "EIRB7V1s3v6jqDstD4ldb0Q4KaRbQMpi4SL38w4VNmc=";
const AID_PRIVATE = "IOhL/nEsE5+kh0+pyI1Qve5oU/3ClBNDukFGEYkIung=";
const PID = "SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk=";
const NOW = 1_784_767_770;
// The device calls' device and user (as examples/native_bench.rs).
const EID_PRIVATE = "wCgaWRFzvaDUIWCveQk2kfl3y9cBNZlu/eeI0m9QZ3Q=";
const USER_PRIVATE = "EIRB7V1s3v6jqDstD4ldb0Q4KaRbQMpi4SL38w4VNmc=";

/** Nanoseconds per call: batches of about 150 ms, the median of 7 (as the native side). */
function measure(op) {
  let n = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) op();
    if (Number(process.hrtime.bigint() - start) > 150e6) break;
    n *= 2;
  }
  const samples = [];
  for (let s = 0; s < 7; s++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) op();
    samples.push(Number(process.hrtime.bigint() - start) / n);
  }
  samples.sort((a, b) => a - b);
  return samples[3];
}

const ext = ExtAuth.fromSessionKey(SESSION_KEY, EID);
const verified = ext.verifyAuthreq(AUTHREQ, NOW);
const { event } = verified.entries.find((e) => e.pid === PID);
const pairing = AuthenticatorPairing.fromPrivateKey(PID, EID, AID_PRIVATE);

/** Nanoseconds of the timed part of `op` (it returns them), the median of `n` calls. */
function medianOf(n, op) {
  const samples = Array.from({ length: n }, op).sort((a, b) => a - b);
  return samples[n >> 1];
}

/** The in-process device: a bearer `GET /api/system/config` through `Device.handle`, and one
 * `POST /api/auth/ext/token` (after a fresh ext/request and approval, not timed). */
function deviceCalls() {
  const { AuthenticatorPairing, Device, ExtAuth, LoginChallenge, UserKey } = dev;
  const user = UserKey.fromPrivateKey(USER_PRIVATE);
  const fresh = new Device({ identity: EID_PRIVATE, userKey: user.publicKey, nonceCapacity: 4096, now: () => NOW });
  const snapshot = JSON.parse(fresh.snapshot());
  snapshot.device.pairings = [{ pid: PID, aid: publicKeyOfAid, label: "bench" }];
  const device = Device.restore(JSON.stringify(snapshot), { now: () => NOW });
  const challenge = LoginChallenge.parse(device.handle({ method: "GET", path: "/api/auth/token" }).body);
  const auth = challenge.buildLogin(user, "system:config", NOW, NOW + 3600);
  const login = device.handle({ method: "POST", path: "/api/auth/token", body: JSON.stringify({ auth }) });
  const config = {
    method: "GET",
    path: "/api/system/config",
    headers: { authorization: `Bearer ${JSON.parse(login.body).token}` },
  };
  const bearer = measure(() => {
    if (device.handle(config).status !== 200) throw new Error("bearer refused");
  });
  const phone = AuthenticatorPairing.fromPrivateKey(PID, device.eid, AID_PRIVATE);
  const extToken = medianOf(201, () => {
    const client = ExtAuth.start("keymgmt:list", device.eid);
    const r = device.handle({ method: "POST", path: "/api/auth/ext/request", body: client.requestBody });
    const { event } = client.verifyResponse(r.body, NOW).entries.find((e) => e.pid === PID);
    const approval = phone.openEvent(event, NOW).approve(NOW, 900, false);
    const request = { method: "POST", path: "/api/auth/ext/token", body: client.tokenBody(approval.authreply) };
    const start = process.hrtime.bigint();
    const answer = device.handle(request);
    const took = Number(process.hrtime.bigint() - start);
    if (answer.status !== 200) throw new Error(`ext/token answered ${answer.status}`);
    client.free();
    return took;
  });
  return { bearer, extToken };
}

const publicKeyOfAid = publicKeyOf(AID_PRIVATE);
const device = deviceCalls();

const wasm = {
  x25519: measure(() => x25519(SESSION_KEY, EID)),
  authreq_verify: measure(() => ext.verifyAuthreq(AUTHREQ, NOW)),
  authreply_build: measure(() => {
    const opened = pairing.openEvent(event, NOW);
    opened.approve(NOW, 900, false);
    opened.free();
  }),
  device_bearer_get: device.bearer,
  device_ext_token: device.extToken,
};

const crate = fileURLToPath(new URL("..", import.meta.url));
const native = JSON.parse(
  execFileSync(
    "cargo",
    ["run", "--locked", "--quiet", "--release", "-p", "hem-auth-wasm", "--example", "native_bench"],
    { cwd: crate, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  ),
);

const rows = Object.keys(wasm).map((op) => ({
  op,
  wasm_ns: Math.round(wasm[op]),
  native_ns: Math.round(native[op]),
  ratio: +(wasm[op] / native[op]).toFixed(2),
  in_wasm_x25519: +(wasm[op] / wasm.x25519).toFixed(2),
}));
if (process.argv.includes("--json")) {
  console.log(JSON.stringify(rows));
} else {
  console.log(`node ${process.version}, ${new Date().toISOString()}`);
  console.log("op                 wasm (JS API)    native      wasm/native   in WASM X25519s");
  for (const r of rows) {
    console.log(
      `${r.op.padEnd(18)} ${(r.wasm_ns / 1000).toFixed(1).padStart(9)} µs ${(r.native_ns / 1000)
        .toFixed(1)
        .padStart(9)} µs ${r.ratio.toFixed(2).padStart(10)}× ${r.in_wasm_x25519.toFixed(2).padStart(14)}`,
    );
  }
}
