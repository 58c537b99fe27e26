// The in-process device: the JS client flows of test/support/flows.mjs (the same ones
// test/emulator.test.mjs runs against the real hem-emulator over HTTP) against `Device` and
// `NotifyBroker` through the fetch shim, with no server; then snapshot/restore, the audit log,
// the clock, and garbage requests (always a status, never a throw but documented HemErrors).
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import { Device, ExtAuth, LoginChallenge, NotifyBroker, UserKey, isHemError } from "hem-auth-wasm/device";
import { createFetch } from "hem-auth-wasm/fetch";
import { client } from "./support/emulator.mjs";
import { PASSWORD, flows } from "./support/flows.mjs";

flows(async () => {
  const broker = new NotifyBroker();
  const device = new Device({ password: PASSWORD, rtcUnset: true, backendKey: broker.backendKey });
  const fetch = createFetch(device, { broker });
  return { http: client("http://device.invalid", fetch), eid: device.eid, stop: async () => {} };
});

const NOW = 1_784_767_764;
const userKey = UserKey.fromPrivateKey(randomBytes(32).toString("base64"));

/** A password-less login with the user key: the bearer token for `scope`. */
function login(device, scope) {
  const challenge = LoginChallenge.parse(device.handle({ path: "/api/auth/token" }).body);
  const auth = challenge.buildLogin(userKey, scope, device.now(), device.now() + 600);
  const r = device.handle({ method: "POST", path: "/api/auth/token", body: JSON.stringify({ auth }) });
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body).token;
}

test("handle: status, JSON content type, body; bearer before routing", () => {
  const device = new Device({ userKey: userKey.publicKey, label: "js", now: () => NOW });
  const version = device.handle({ method: "GET", path: "/api/system/version" });
  assert.deepEqual(version.headers, { "content-type": "application/json" });
  assert.equal(version.status, 200);
  assert.equal(JSON.parse(version.body).hwv, "hem-emulator");
  assert.equal(device.handle({ path: "/nowhere" }).status, 404);
  assert.equal(device.handle({ path: "/nowhere", headers: { Authorization: "Bearer x.y.z" } }).status, 401);
  const token = login(device, "system:config");
  const config = device.handle({ path: "/api/system/config?x=1", headers: { authorization: `Bearer ${token}` } });
  assert.equal(config.status, 200);
  assert.equal(JSON.parse(config.body).eid, device.eid);
  assert.equal(device.checkBearer(token, "system:config"), 200);
  assert.equal(device.checkBearer(token, "keymgmt:list"), 403);
  assert.equal(device.checkBearer("x.y.z", "system:config"), 401);
});

test("the clock: config.now, setTime, advance; tokens expire with it", () => {
  let t = NOW;
  const device = new Device({ userKey: userKey.publicKey, now: () => t });
  assert.equal(device.now(), NOW);
  t += 10;
  assert.equal(device.now(), NOW + 10);
  device.setTime(NOW + 100);
  assert.equal(device.now(), NOW + 100);
  device.advance(5);
  assert.equal(device.now(), NOW + 105);
  const token = login(device, "system:config");
  const bearer = { path: "/api/system/config", headers: { authorization: `Bearer ${token}` } };
  assert.equal(device.handle(bearer).status, 200);
  device.advance(601);
  assert.equal(device.handle(bearer).status, 401, "expired with the device clock");
  assert.throws(() => new Device({ now: () => "soon" }), (e) => isHemError(e) && e.code === "device.clock");
  let late = NOW;
  const broken = new Device({ now: () => late });
  late = -1;
  assert.throws(() => broken.handle({ path: "/api/system/version" }), (e) => isHemError(e) && e.code === "device.clock");
  // Without `now`: the wall clock.
  assert.ok(Math.abs(new Device().now() - Date.now() / 1000) < 5);
});

test("the audit log: logger/list pages the lines the device made", () => {
  const device = new Device({ userKey: userKey.publicKey, now: () => NOW });
  const token = login(device, "logger:get");
  const r = device.handle({ path: "/api/logger/list", headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, r.body);
  const page = JSON.parse(r.body);
  assert.deepEqual(page.lines, device.auditLines());
  assert.equal(page.total, page.lines.length);
  assert.ok(page.lines.length >= 3, "key line, RTC set, login");
  assert.match(page.lines[0], /^0\|/, "the key line first");
  const one = JSON.parse(
    device.handle({ path: "/api/logger/list/1/1", headers: { authorization: `Bearer ${token}` } }).body,
  );
  assert.equal(one.lines.length, 2);
  assert.equal(one.next, 2);
});

test("snapshot → restore: pairings, configuration and log kept; tokens and issued nonces void", async () => {
  const broker = new NotifyBroker();
  const device = new Device({ userKey: userKey.publicKey, label: "snap", backendKey: broker.backendKey });
  const token = login(device, "auth:ext:pair");
  // A pending login challenge, issued before the snapshot.
  const challenge = LoginChallenge.parse(device.handle({ path: "/api/auth/token" }).body);
  const json = device.snapshot();
  const file = JSON.parse(json);
  assert.equal(file.format, "hem-auth-wasm-device/1");
  const restored = Device.restore(json);
  assert.equal(restored.eid, device.eid);
  const after = JSON.parse(restored.snapshot());
  assert.deepEqual(after.device, file.device, "a restore is the same state");
  assert.equal(after.logger_key, file.logger_key);
  // The log goes on: the reboot's RTC-set line follows the saved ones.
  assert.deepEqual(after.log.slice(0, file.log.length), file.log);
  assert.equal(after.log.length, file.log.length + 1);
  assert.equal(
    restored.handle({ path: "/api/system/config", headers: { authorization: `Bearer ${token}` } }).status,
    401,
    "a reboot voids earlier tokens",
  );
  const auth = challenge.buildLogin(userKey, "system:config", restored.now(), restored.now() + 60);
  assert.equal(
    restored.handle({ method: "POST", path: "/api/auth/token", body: JSON.stringify({ auth }) }).status,
    401,
    "and the nonces it issued",
  );
  assert.equal(JSON.parse(restored.handle({ path: "/api/auth/token" }).body).lbl, "snap");
  // The config given to restore applies over the saved one.
  const relabelled = Device.restore(json, { label: "other", now: () => NOW });
  assert.equal(JSON.parse(relabelled.handle({ path: "/api/auth/token" }).body).lbl, "other");
  assert.equal(relabelled.now(), NOW);
  for (const bad of ["", "{}", "null", json.replace("hem-auth-wasm-device/1", "x"), 7]) {
    assert.throws(
      () => Device.restore(bad),
      (e) => isHemError(e) && ["device.snapshot", "input.type"].includes(e.code),
    );
  }
  // A pairing survives: pair one phone through the shim, restore, and it is listed.
  const fetch = createFetch(device, { broker });
  const http = client("http://device.invalid", fetch);
  const { PairingSession, UnverifiedPairingRequest } = await import("hem-auth-wasm/device");
  const session = PairingSession.start(device.eid);
  const init = await http.post("/api/auth/ext/init", session.initBody, { token });
  const verified = session.verifyInitResponse(init.text, device.now());
  const answer = UnverifiedPairingRequest.parse(verified.request).reply("phone", "fid");
  const pid = randomBytes(32).toString("base64");
  const v = await http.post("/api/auth/ext/validate", session.validateBody(pid, answer.reply), { token });
  assert.equal(v.status, 200, v.text);
  const again = Device.restore(device.snapshot());
  assert.deepEqual(
    JSON.parse(again.snapshot()).device.pairings.map((p) => p.pid),
    [pid],
  );
  assert.deepEqual(again.auditLines().slice(0, -1), device.auditLines());
});

test("config errors are HemErrors", () => {
  for (const config of [7, "x", { label: 7 }, { nope: true }, { userKey: "short" }, { now: 5 }, { identity: "AAAA" }]) {
    assert.throws(() => new Device(config), (e) => isHemError(e) && e.code.startsWith("input."), JSON.stringify(config));
  }
});

/** Random garbage of every shape a JS caller could pass. */
function garbage(rand) {
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const text = () => {
    const n = Math.floor(rand() * 64);
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(rand() * (rand() < 0.9 ? 128 : 0x10000)));
    return s;
  };
  const paths = [
    "/api/auth/token", "/api/auth/ext/request", "/api/auth/ext/token", "/api/auth/ext/init",
    "/api/auth/ext/validate", "/api/auth/ext/mac", "/api/system/checkin", "/api/system/version",
    "/api/system/status", "/api/system/config", "/api/keymgmt/list/0/99999999999999999999999",
    "/api/keymgmt/get/", "/api/keymgmt/delete/ab", "/api/logger/list/18446744073709551615/0",
    "/notify/session", "/checkin", "//", "", "/api/auth/token?x",
  ];
  const bodies = [
    () => text(), () => "{}", () => '{"auth":"a.b.c"}', () => '{"authreply":' + JSON.stringify(text()) + "}",
    () => new Uint8Array(Math.floor(rand() * 9000)).map(() => rand() * 256), () => null, () => undefined,
    () => "x".repeat(7301), () => '{"epk":"' + randomBytes(32).toString("base64") + '","scope":"' + text() + '"}',
  ];
  return {
    method: pick(["GET", "POST", "DELETE", "PUT", "HEAD", "get", "", "P\u00d8ST"]),
    path: rand() < 0.8 ? pick(paths) : "/" + text(),
    headers: rand() < 0.5 ? {} : { authorization: pick(["Bearer " + text(), text(), "Bearer a.b.c", ""]) },
    body: pick(bodies)(),
  };
}

test("no panic on garbage: 3000 random requests, always a status", () => {
  let seed = 0x9e3779b9;
  const rand = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const broker = new NotifyBroker();
  const device = new Device({ userKey: userKey.publicKey, backendKey: broker.backendKey });
  const token = login(device, "system:config");
  for (let i = 0; i < 3000; i++) {
    const request = garbage(rand);
    if (rand() < 0.1) request.headers = { authorization: `Bearer ${token}` };
    for (const server of [device, broker]) {
      const r = server.handle(request);
      assert.ok(Number.isInteger(r.status) && r.status >= 200 && r.status < 600, JSON.stringify(r));
      assert.equal(typeof r.body, "string");
    }
  }
  // Requests that are not request objects: documented HemErrors, and the device lives on.
  for (const bad of [undefined, null, 7, "GET /", {}, { path: 7 }, { path: "/", method: 1 }, { path: "/", body: 5 }, { path: "/", headers: 5 }]) {
    assert.throws(() => device.handle(bad), (e) => isHemError(e) && e.code === "input.type");
  }
  assert.equal(device.handle({ path: "/api/system/version" }).status, 200);
  // The device still works after all that: a remote-login request is answered.
  const ext = ExtAuth.start("keymgmt:list", device.eid);
  assert.equal(device.handle({ method: "POST", path: "/api/auth/ext/request", body: ext.requestBody }).status, 200);
});

test("the fetch shim: WHATWG signature, Request objects, HEAD, relative and absolute URLs", async () => {
  const device = new Device({ now: () => NOW });
  const fetch = createFetch(device);
  const a = await fetch("/api/system/version");
  assert.ok(a instanceof Response);
  assert.equal(a.status, 200);
  assert.equal(a.headers.get("content-type"), "application/json");
  assert.equal((await a.json()).hwv, "hem-emulator");
  const b = await fetch(new Request("https://anywhere.example/api/system/status", { method: "GET" }));
  assert.equal(b.status, 200);
  const head = await fetch(new URL("http://x/api/system/version"), { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  const refused = await fetch("/api/auth/token", { method: "POST", body: "{" });
  assert.equal(refused.status, 400);
  assert.equal(await refused.text(), "");
  // Without a broker, broker paths are the device's 404.
  assert.equal((await fetch("/notify/session")).status, 404);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(fetch("/api/system/version", { signal: controller.signal }), { name: "AbortError" });
  assert.throws(() => createFetch({}), TypeError);
});
