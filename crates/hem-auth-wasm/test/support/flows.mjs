// The JS client flows, written once: password login, check-in, then pairing and an
// external-authenticator login twice — once with the client holding its own session keys (so
// it verifies the pairing request, the pairing code and the authreq itself, and hands the
// event to the phone), once through the notify broker as the Manager does (the broker holds
// the session keys). The phone is the package's authenticator role in both. Each ends with a
// bearer call. test/emulator.test.mjs runs them against the real hem-emulator over HTTP,
// test/device.test.mjs against the in-process Device through the fetch shim.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import {
  ExtAuth,
  LoginChallenge,
  PairingSession,
  UnverifiedPairingRequest,
  UserKey,
  isHemError,
  publicKeyOf,
  qrPayload,
  readTokenResponseUnverified,
} from "hem-auth-wasm";
import { now } from "./emulator.mjs";

export const PASSWORD = "correct horse battery staple";

/**
 * Registers the flows as tests. `start()` resolves to `{ http, eid, stop }`: a client of
 * support/emulator.mjs's `client` shape for a device with the user password `PASSWORD`, the
 * RTC unset and a notify broker on the same origin, and the device's eid.
 */
export function flows(start) {
  let http;
  /** The device's eid, as the operator knows it (the emulator prints it; a real one is read
   * from the device's configuration once and kept). Every flow is pinned to it. */
  let eid;
  let configToken;
  let device;

  before(async () => {
    device = await start();
    http = device.http;
    eid = device.eid;
  });

  after(async () => {
    await device?.stop();
  });

  /** Password login (spec §7): challenge → PBKDF2 key → eJWT → token. */
  async function passwordLogin(scope, key) {
    const challenge = LoginChallenge.parse((await http.get("/api/auth/token")).text);
    assert.equal(challenge.eid, eid, "the challenge comes from the pinned device");
    key ??= UserKey.fromPassword(PASSWORD, challenge.eid);
    const auth = challenge.buildLogin(key, scope, now(), now() + 600);
    const answer = await http.post("/api/auth/token", { auth });
    assert.equal(answer.status, 200, answer.text);
    const token = readTokenResponseUnverified(answer.text);
    assert.equal(token.scope, scope);
    assert.equal(token.sub, "U");
    assert.equal(token.subKid, null);
    return { token: token.token, key };
  }

  /** Check-in through the broker's backend (spec §9.4): sets the device's RTC. */
  async function checkIn() {
    const check = await http.get("/api/system/checkin");
    assert.equal(check.status, 200);
    const checked = await http.post("/checkin", check.text);
    assert.equal(checked.status, 200, checked.text);
    const done = await http.post("/api/system/checkin", checked.text);
    assert.equal(done.status, 200, done.text);
  }

  test("password login, then a bearer call", async () => {
    const { token, key } = await passwordLogin("system:config");
    configToken = token;
    const config = await http.get("/api/system/config", { token });
    assert.equal(config.status, 200);
    assert.equal(config.json.eid, eid);
    // A wrong password derives another key: the device refuses its eJWT.
    const challenge = LoginChallenge.parse((await http.get("/api/auth/token")).text);
    const wrong = UserKey.fromPassword("not the password", challenge.eid);
    assert.notEqual(wrong.publicKey, key.publicKey);
    const refused = await http.post("/api/auth/token", {
      auth: challenge.buildLogin(wrong, "system:config", now(), now() + 600),
    });
    assert.equal(refused.status, 401);
    // The RTC is unset: remote login waits for the check-in.
    const early = ExtAuth.start("keymgmt:list", eid);
    assert.equal((await http.post("/api/auth/ext/request", early.requestBody)).status, 403);
    await checkIn();
  });

  let direct; // { pairing, kid } of the directly paired phone

  test("pairing with the client's own session key: request and code verified", async () => {
    assert.ok(configToken, "needs the password login");
    const session = PairingSession.start(eid);
    const init = await http.post("/api/auth/ext/init", session.initBody, { token: configToken });
    assert.equal(init.status, 200, init.text);
    const verified = session.verifyInitResponse(init.text, now());
    assert.equal(verified.eid, eid);

    // Pinned: the same answer checked by a session pinned to another device is refused before
    // any cryptography, and a tampered request does not verify.
    const otherDevice = publicKeyOf(randomBytes(32).toString("base64"));
    const other = PairingSession.fromSessionKey(randomBytes(32).toString("base64"), otherDevice);
    assert.throws(
      () => other.verifyInitResponse(init.text, now()),
      (e) => isHemError(e) && e.code === "client.wrong_issuer",
    );
    const [rh, rp, rs] = verified.request.split(".");
    const tampered = JSON.stringify({ request: `${rh}.${rp}.${rs.startsWith("A") ? "B" : "A"}${rs.slice(1)}`, eid });
    assert.throws(
      () => session.verifyInitResponse(tampered, now()),
      (e) => isHemError(e) && e.code === "jwt.bad_signature",
    );

    // The phone reads the request (unverified: it has no key yet) and answers.
    const request = UnverifiedPairingRequest.parse(verified.request);
    assert.equal(request.eid, eid);
    assert.equal(request.epk, session.epk);
    assert.equal(request.isExpired(now()), false);
    const answer = request.reply("JS test phone", "fcm-token-1");
    // The client is its own broker here: it assigns the pid (32 random bytes).
    const pid = randomBytes(32).toString("base64");
    const validated = await http.post("/api/auth/ext/validate", session.validateBody(pid, answer.reply), {
      token: configToken,
    });
    assert.equal(validated.status, 200, validated.text);
    const kid = session.verifyValidateResponse(answer.reply, validated.text);
    assert.match(kid, /^[0-9a-f]{32}$/);
    // A code over another reply is refused.
    assert.throws(
      () => session.verifyValidateResponse(answer.reply + "x", validated.text),
      (e) => isHemError(e) && e.code === "client.bad_code",
    );
    direct = { pairing: answer.pair(pid), kid };
  });

  test("external-authenticator login, authreq verified before it is forwarded", async () => {
    assert.ok(direct, "needs the direct pairing");
    const ext = ExtAuth.start("keymgmt:list", eid, "js-client", "from node --test");
    const response = await http.post("/api/auth/ext/request", ext.requestBody);
    assert.equal(response.status, 200, response.text);
    const verified = ext.verifyResponse(response.text, now());
    // The same answer as bytes (a Uint8Array, as a fetch body arrives) reads the same.
    assert.deepEqual(ext.verifyResponse(new TextEncoder().encode(response.text), now()), verified);
    assert.equal(verified.eid, eid);
    assert.equal(verified.ctx, "js-client");
    assert.equal(verified.note, "from node --test");

    // Refused before forwarding: a session pinned to another device, a tampered authreq.
    const otherDevice = publicKeyOf(randomBytes(32).toString("base64"));
    const elsewhere = ExtAuth.fromSessionKey(randomBytes(32).toString("base64"), otherDevice);
    assert.throws(
      () => elsewhere.verifyAuthreq(verified.authreq, now()),
      (e) => isHemError(e) && e.code === "client.wrong_issuer",
    );
    const [h, p, s] = verified.authreq.split(".");
    const flipped = `${h}.${p}.${s.startsWith("A") ? "B" : "A"}${s.slice(1)}`;
    assert.throws(
      () => ext.verifyAuthreq(flipped, now()),
      (e) => isHemError(e) && e.code === "jwt.bad_signature",
    );

    // Forward this phone's event to it; it opens, shows and approves it.
    const entry = verified.entries.find((e) => e.pid === direct.pairing.pid);
    assert.ok(entry, "the authreq has an entry for the paired phone");
    const opened = direct.pairing.openEvent(entry.event, now());
    assert.equal(opened.rawScope, "keymgmt:list");
    assert.deepEqual(opened.display, {
      text: "keymgmt:list",
      scope: "keymgmt:list",
      hintLabel: null,
      hintType: null,
      suspicious: false,
    });
    const approval = opened.approve(now(), 900, false);
    assert.equal(approval.scope, "keymgmt:list");
    assert.throws(() => opened.deny(), (e) => isHemError(e) && e.code === "input.consumed");

    const minted = await http.post("/api/auth/ext/token", ext.tokenBody(approval.authreply));
    assert.equal(minted.status, 200, minted.text);
    const token = readTokenResponseUnverified(minted.text);
    assert.equal(token.scope, "keymgmt:list");
    assert.equal(token.subKid, direct.kid);
    assert.equal(token.ctx, "js-client");

    const keys = await http.get("/api/keymgmt/list", { token: token.token });
    assert.equal(keys.status, 200, keys.text);
    assert.ok(keys.json.list.some((k) => k.kid === direct.kid && k.label === "JS test phone"));
  });

  let brokered; // the phone paired through the broker

  test("pairing through the emulator's notify broker (the phone talks to the broker)", async () => {
    assert.ok(configToken, "needs the password login");
    const session = await http.post("/notify/session", { eid });
    assert.equal(session.status, 200, session.text);
    const init = await http.post("/api/auth/ext/init", { epk: session.json.epk }, { token: configToken });
    assert.equal(init.status, 200, init.text);
    const registration = await http.post("/notify/register/init", {
      epk: session.json.epk,
      eid,
      request: init.json.request,
    });
    assert.equal(registration.status, 200, registration.text);
    const { rid, link } = registration.json;
    // What the Manager shows as a QR code; the phone scans the link from it.
    const config = await http.get("/api/system/config", { token: configToken });
    const qr = JSON.parse(qrPayload(link, init.json.request, config.json.user, config.json.email, config.json.hostname));
    assert.equal(qr.link, link);

    // The phone: fetch the request, answer it, keep the pairing under the broker's pid.
    const fetched = await http.get(qr.link);
    assert.equal(fetched.status, 200, fetched.text);
    const request = UnverifiedPairingRequest.parse(fetched.json.request);
    assert.equal(request.eid, eid);
    const answer = request.reply("JS broker phone", "fcm-token-2");
    const linked = await http.post(qr.link, answer.body);
    assert.equal(linked.status, 200, linked.text);
    const pairing = answer.pair(linked.json.pid);

    // The client: the broker's verdict, the device's validation, the broker's finalisation.
    const check = await http.get(`/notify/register/check/${rid}`);
    assert.equal(check.status, 200, check.text);
    const validated = await http.post("/api/auth/ext/validate", check.text, { token: configToken });
    assert.equal(validated.status, 200, validated.text);
    const finalised = await http.post(`/notify/register/finalise/${rid}`, validated.text);
    assert.equal(finalised.status, 200, finalised.text);
    brokered = { pairing, kid: validated.json.kid };
  });

  test("external-authenticator login through the notify broker", async () => {
    assert.ok(brokered, "needs the brokered pairing");
    const session = await http.get("/notify/session");
    assert.equal(session.status, 200);
    const authreq = await http.post("/api/auth/ext/request", { ...session.json, scope: "keymgmt:list" });
    assert.equal(authreq.status, 200, authreq.text);
    // The broker holds this session's key, so the broker verifies the authreq here.
    const created = await http.post("/notify/event/new", authreq.text);
    assert.equal(created.status, 200, created.text);
    const { eventid } = created.json;

    // The phone: list its events, fetch this one, open and approve it.
    const { pairing } = brokered;
    const listed = await http.post("/notify/event/data/allbypid", { pid: [pairing.pid] });
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.json.eventid[eventid], [pairing.pid]);
    const path = `/notify/event/data/${eventid}/${pairing.pidx}`;
    const event = await http.get(path);
    assert.equal(event.status, 200, event.text);
    const opened = pairing.openEvent(event.text, now());
    assert.equal(opened.display.text, "keymgmt:list");
    const approval = opened.approve(now(), 3600, false);
    const answered = await http.post(path, approval.body);
    assert.equal(answered.status, 200, answered.text);

    // The client: the verdict, the token, a bearer call.
    const verdict = await http.get(`/notify/event/check/${eventid}`);
    assert.equal(verdict.status, 200, verdict.text);
    assert.equal(verdict.json.authreply, approval.authreply);
    const minted = await http.post("/api/auth/ext/token", { authreply: verdict.json.authreply });
    assert.equal(minted.status, 200, minted.text);
    const token = readTokenResponseUnverified(minted.text);
    assert.equal(token.subKid, brokered.kid);
    assert.ok(token.exp - token.iat <= 3600);
    const keys = await http.get("/api/keymgmt/list", { token: token.token });
    assert.equal(keys.status, 200, keys.text);
    assert.ok(keys.json.list.some((k) => k.kid === brokered.kid));

    // A denial: the phone deletes the event data, the client sees the denial.
    const session2 = await http.get("/notify/session");
    const authreq2 = await http.post("/api/auth/ext/request", { ...session2.json, scope: "logger:get" });
    const created2 = await http.post("/notify/event/new", authreq2.text);
    const path2 = `/notify/event/data/${created2.json.eventid}/${pairing.pidx}`;
    const opened2 = pairing.openEvent((await http.get(path2)).text, now());
    assert.equal(opened2.rawScope, "logger:get");
    assert.equal(opened2.deny(), opened2.jti);
    assert.equal((await http.delete(path2)).status, 200);
    const denied = await http.get(`/notify/event/check/${created2.json.eventid}`);
    assert.deepEqual(denied.json, { deny: true });
  });
}
