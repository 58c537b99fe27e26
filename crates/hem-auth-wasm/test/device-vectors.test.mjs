// Every vector kind with a device role (`ext-token`, `ext-validate`, `login`, `access-token`)
// through the JS Device, on every file of vectors/ and vectors/interop/, as
// crates/hem-auth-vectors/src/check/device.rs runs them on the core: a device restored from a
// snapshot made of the test's inputs (identity, pairings, pending nonces as if issued,
// per-boot keys where the test fixes them), its clock at `now`, the one request the kind
// names — here through `Device.handle`, as a client sends it — and then:
// the status; for a token, its signature under the per-boot key, its claims and that the
// device accepts it as a bearer; the pending nonces (a failure keeps them all, a success
// consumes exactly its own: read from `snapshot()`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

import { Device, LoginChallenge, UserKey, isHemError, verifyHs256Jwt } from "hem-auth-wasm/device";

const root = fileURLToPath(new URL("../../../vectors/", import.meta.url));
const files = [
  ...readdirSync(root).filter((f) => f.endsWith(".json")).map((f) => join(root, f)),
  ...readdirSync(join(root, "interop"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => join(root, "interop", f)),
];

const b64 = () => randomBytes(32).toString("base64");
const canonical = (text) => Buffer.from(text, "base64").toString("base64");

/** A device booted from the test's state: a fresh device's snapshot with the pairings and
 * pending nonces added, restored with the given per-boot keys and the clock at `now`. */
function boot(t, { identity = b64(), purpose, config = {}, bootKeys }) {
  const fresh = new Device({ identity, ...config });
  const snapshot = JSON.parse(fresh.snapshot());
  fresh.free();
  snapshot.device.pairings = (t.pairings ?? []).map((p) => ({ pid: p.pid, aid: p.aid, label: "restored" }));
  snapshot.device.pending = (t.pending ?? []).map((p) => ({
    purpose,
    jti: p.jti,
    exp: p.exp,
    ...(p.scope === undefined ? {} : { scope: p.scope }),
  }));
  return Device.restore(JSON.stringify(snapshot), { now: () => t.now, bootKeys });
}

/** The pending nonces of `purpose` the device holds at `now` (canonical base64). */
function held(device, purpose, now) {
  const pending = JSON.parse(device.snapshot()).device.pending ?? [];
  return new Set(pending.filter((p) => p.purpose === purpose && now < p.exp).map((p) => canonical(p.jti)));
}

/** The `jti` a message carries, read without verification, only to follow its nonce. */
function messageJti(jwt) {
  try {
    return canonical(JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString()).jti);
  } catch {
    return undefined;
  }
}

/** A failure kept every held nonce; a success consumed exactly its own. */
function nonceDiscipline(before, after, used, succeeded) {
  for (const jti of before) {
    const consumed = !after.has(jti);
    const expected = succeeded && jti === used;
    assert.ok(!consumed || expected, `the device released pending nonce ${jti} on a ${succeeded ? "successful" : "failed"} call`);
    assert.ok(!expected || consumed, `a successful call left its nonce ${jti} pending (replayable)`);
  }
}

/** Status against the test: valid means 200, invalid means the test's status (or any refusal). */
function decide(t, status) {
  if (t.result === "valid") {
    assert.equal(status, 200, "a valid test must be accepted");
  } else {
    assert.notEqual(status, 200, "accepted an invalid test");
    if (t.status !== undefined) assert.equal(status, t.status, "status");
  }
}

/** The token of a 200: verified under the per-boot key, its claims, and accepted back. */
function checkToken(device, tokenKey, body, t) {
  const { token } = JSON.parse(body);
  const claims = verifyHs256Jwt(token, tokenKey, "plain");
  if (t.token) {
    assert.deepEqual({ scope: claims.scope, sub: claims.sub, exp: claims.exp }, t.token, "token");
  }
  if (t.now < claims.exp) {
    // Bearer before routing (spec §8.2): an accepted token on a path the device lacks is 404.
    const r = device.handle({ path: "/nowhere", headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 404, "the device refuses its own token");
  }
}

const post = (device, path, body, token) =>
  device.handle({
    method: "POST",
    path,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    body: JSON.stringify(body),
  });

const RUNNERS = {
  "ext-token"(t) {
    const tokenKey = b64();
    const device = boot(t, {
      identity: t.eid_private,
      purpose: "authreq",
      config: t.policy ? { policy: t.policy } : {},
      bootKeys: { sessionKey: b64(), tokenKey },
    });
    const before = held(device, "authreq", t.now);
    const r = post(device, "/api/auth/ext/token", { authreply: t.authreply });
    decide(t, r.status);
    if (r.status === 200) checkToken(device, tokenKey, r.body, t);
    nonceDiscipline(before, held(device, "authreq", t.now), messageJti(t.authreply), r.status === 200);
  },
  "ext-validate"(t) {
    const user = UserKey.fromPrivateKey(b64());
    const device = boot(t, {
      identity: t.eid_private,
      purpose: "pairing",
      config: { userKey: user.publicKey },
    });
    // A user token through the device's own password login (GET, then POST /api/auth/token).
    const challenge = LoginChallenge.parse(device.handle({ path: "/api/auth/token" }).body);
    const login = post(device, "/api/auth/token", {
      auth: challenge.buildLogin(user, "auth:ext:pair", t.now, t.now + 60),
    });
    assert.equal(login.status, 200, "checker login");
    const { token } = JSON.parse(login.body);
    const before = held(device, "pairing", t.now);
    const r = post(device, "/api/auth/ext/validate", { pid: t.pid, reply: t.reply }, token);
    decide(t, r.status);
    if (r.status === 200) {
      const answer = JSON.parse(r.body);
      if (t.kid !== undefined) assert.equal(answer.kid, t.kid, "kid");
      if (t.code !== undefined) assert.equal(answer.code, t.code, "code");
      const pairings = JSON.parse(device.snapshot()).device.pairings;
      assert.ok(
        pairings.some((p) => p.pid === canonical(t.pid)),
        "the device answered 200 but holds no pairing under this pid",
      );
    }
    nonceDiscipline(before, held(device, "pairing", t.now), messageJti(t.reply), r.status === 200);
  },
  login(t) {
    const tokenKey = b64();
    const device = boot(t, {
      purpose: "login",
      config: { userKey: t.user_public, ...(t.master_public ? { masterKey: t.master_public } : {}) },
      bootKeys: { sessionKey: t.spk_private, tokenKey },
    });
    const before = held(device, "login", t.now);
    const r = post(device, "/api/auth/token", { auth: t.auth });
    decide(t, r.status);
    if (r.status === 200) checkToken(device, tokenKey, r.body, t);
    nonceDiscipline(before, held(device, "login", t.now), messageJti(t.auth), r.status === 200);
  },
  "access-token"(t) {
    const device = boot(t, { purpose: "login", bootKeys: { sessionKey: b64(), tokenKey: t.token_key } });
    decide(t, device.checkBearer(t.token, t.required_scope, t.exact === true));
  },
};

const seen = new Map();
for (const path of files) {
  const file = JSON.parse(readFileSync(path, "utf8"));
  const name = path.slice(root.length);
  for (const group of file.groups) {
    const run = RUNNERS[group.kind];
    if (!run) continue;
    test(`${name}: ${group.kind} through the JS Device (${group.tests.length} tests)`, () => {
      for (const t of group.tests) {
        try {
          run(t);
        } catch (e) {
          e.message = `${name} ${group.kind} #${t.id} (${t.comment}): ${isHemError(e) ? e.code + " " : ""}${e.message}`;
          throw e;
        }
        seen.set(group.kind, (seen.get(group.kind) ?? 0) + 1);
      }
    });
  }
}

test("every device kind ran through the JS Device", () => {
  for (const kind of Object.keys(RUNNERS)) assert.ok(seen.get(kind) > 0, `no ${kind} test ran`);
  console.log(`vectors through the JS Device: ${[...seen].map(([k, n]) => `${k} ${n}`).join(", ")}`);
});
