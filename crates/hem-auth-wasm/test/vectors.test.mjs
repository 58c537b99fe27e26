// Every vector kind with a client or authenticator role (and the primitives the package
// exports) runs through the JS API, on every file of vectors/ and vectors/interop/, held to
// `result` and the expected members exactly as crates/hem-auth-vectors/src/check/*.rs holds
// the Rust roles (docs/vectors.md, "Common rules").
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

import {
  AuthenticatorPairing,
  ExtAuth,
  UnverifiedPairingRequest,
  UserKey,
  buildLoginJwt,
  isHemError,
  openSealedScope,
  pidToPidx,
  sealScope,
  verifyHs256Jwt,
  x25519,
} from "hem-auth-wasm";

const root = fileURLToPath(new URL("../../../vectors/", import.meta.url));
const files = [
  ...readdirSync(root).filter((f) => f.endsWith(".json")).map((f) => join(root, f)),
  ...readdirSync(join(root, "interop"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => join(root, "interop", f)),
];

/** The kinds only a device can run: test/device-vectors.test.mjs runs them through the JS Device. */
const DEVICE_KINDS = new Set(["ext-token", "ext-validate", "login", "access-token"]);

/** The header policy a generic verifier applies (as check/primitives.rs `policy_for`). */
function policyFor(jwt) {
  const header = jwt.split(".")[0] ?? "";
  try {
    const json = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
    return json && typeof json === "object" && "ecdh" in json ? "ecdh" : "plain";
  } catch {
    return "plain";
  }
}

/** Compares an expected member when the test gives it. */
function same(t, member, got, { required = false } = {}) {
  if (!(member in t)) {
    if (required) throw new Error(`valid test lacks the expected \`${member}\``);
    return;
  }
  assert.deepEqual(got, t[member], `\`${member}\``);
}

const RUNNERS = {
  x25519(t) {
    const shared = x25519(t.private, t.public);
    return () => same(t, "shared", shared, { required: true });
  },
  "hs256-jwt"(t) {
    const payload = verifyHs256Jwt(t.jwt, t.key, policyFor(t.jwt));
    return () => same(t, "payload", payload);
  },
  pidx(t) {
    const pidx = pidToPidx(t.pid);
    return () => same(t, "pidx", pidx, { required: true });
  },
  "scope-seal"(t) {
    const opened = openSealedScope(t.secret, t.jti, t.sealed);
    return () => {
      same(t, "scope", opened, { required: true });
      assert.equal(sealScope(t.secret, t.jti, t.scope), t.sealed, "sealing `scope`");
    };
  },
  authreq(t) {
    const ext = ExtAuth.fromSessionKey(t.epk_private, t.eid);
    const v = ext.verifyAuthreq(t.authreq, t.now);
    let scope;
    if (t.aid_private !== undefined) {
      const entry = v.entries.find((e) => e.pid === t.pid);
      if (!entry) throw Object.assign(new Error(`no entry for pid ${t.pid}`), { noEntry: true });
      assert.deepEqual(entry.event, { jti: v.jti, scope: entry.event.scope, epk: ext.epk, exp: v.exp });
      const pairing = AuthenticatorPairing.fromPrivateKey(t.pid, v.eid, t.aid_private);
      scope = pairing.openEvent(entry.event, t.now).rawScope;
    }
    return () => {
      same(t, "jti", v.jti, { required: true });
      same(t, "iat", v.iat, { required: true });
      same(t, "exp", v.exp, { required: true });
      same(t, "ctx", v.ctx);
      assert.equal(v.eid, t.eid);
      assert.equal(v.authreq, t.authreq);
      if (t.scope !== undefined) same(t, "scope", scope);
    };
  },
  "login-build"(t) {
    const key = UserKey.fromPassword(t.password, t.eid);
    const auth = buildLoginJwt(key, t.spk, t.jti, t.scope, t.iat, t.exp);
    return () => {
      same(t, "iss", key.publicKey, { required: true });
      same(t, "auth", auth, { required: true });
    };
  },
  "authreply-build"(t) {
    const pairing = AuthenticatorPairing.fromPrivateKey(t.pid, t.eid, t.aid_private);
    const opened = pairing.openEvent(t.event, t.now);
    const a = opened.approve(t.now, t.period, t.writable);
    return () => {
      same(t, "scope", a.scope, { required: true });
      same(t, "authreply", a.authreply, { required: true });
      same(t, "mac", a.mac, { required: true });
      assert.equal(a.exp, t.now + t.period);
      assert.deepEqual(JSON.parse(a.body), { authreply: a.authreply, mac: a.mac });
    };
  },
  "pairing-reply-build"(t) {
    const request =
      typeof t.request === "string"
        ? UnverifiedPairingRequest.parse(t.request)
        : UnverifiedPairingRequest.fromClaims(t.request);
    const answer = request.replyWithKey(t.aid_private, t.label, t.fid);
    return () => {
      same(t, "reply", answer.reply, { required: true });
      same(t, "mac", answer.mac, { required: true });
      same(t, "aid", answer.aid, { required: true });
      assert.deepEqual(JSON.parse(answer.body), {
        reply: answer.reply,
        fid: t.fid,
        mac: answer.mac,
        aid: answer.aid,
      });
    };
  },
};

/** Runs one test: a valid one must succeed and match, an invalid one must throw a HemError. */
function runCase(kind, t) {
  let check;
  try {
    check = RUNNERS[kind](t);
  } catch (e) {
    if (t.result === "valid") {
      throw new Error(`rejected a valid case: ${e.code ?? ""} ${e.message}`);
    }
    // The package refused it (a HemError), or the verified authreq has no entry for the
    // phone's pid (the `UnknownPid` case: the client's answer is "nothing for this phone").
    assert.ok(isHemError(e) || e.noEntry, `an invalid case must fail with a HemError, got ${e}`);
    return e.code ?? "no-entry";
  }
  if (t.result === "invalid") throw new Error("accepted an invalid case");
  check();
  return "valid";
}

const seen = new Map();
const skippedKinds = new Set();

for (const path of files) {
  const file = JSON.parse(readFileSync(path, "utf8"));
  const name = path.slice(root.length);
  for (const group of file.groups) {
    if (!RUNNERS[group.kind]) {
      skippedKinds.add(group.kind);
      continue;
    }
    test(`${name}: ${group.kind} (${group.tests.length} tests)`, () => {
      for (const t of group.tests) {
        try {
          runCase(group.kind, t);
        } catch (e) {
          e.message = `${name} ${group.kind} #${t.id} (${t.comment}): ${e.message}`;
          throw e;
        }
        seen.set(group.kind, (seen.get(group.kind) ?? 0) + 1);
      }
    });
  }
}

test("every kind with a client or authenticator role ran; only device kinds are left", () => {
  for (const kind of Object.keys(RUNNERS)) {
    assert.ok(seen.get(kind) > 0, `no ${kind} test ran`);
  }
  for (const kind of skippedKinds) {
    assert.ok(DEVICE_KINDS.has(kind), `kind ${kind} has no JS runner and is not a device kind`);
  }
  const summary = [...seen].map(([k, n]) => `${k} ${n}`).join(", ");
  console.log(`vectors through the JS API: ${summary}; device kinds (test/device-vectors.test.mjs): ${[...skippedKinds].join(", ")}`);
});
