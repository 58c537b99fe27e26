// The JS client flows (test/support/flows.mjs) against the real hem-emulator over HTTP:
// `--broker --rtc-unset`, the user password in HEM_PASSWORD.
import { client, startEmulator } from "./support/emulator.mjs";
import { PASSWORD, flows } from "./support/flows.mjs";

flows(async () => {
  const emulator = await startEmulator(["--broker", "--rtc-unset"], { password: PASSWORD });
  return { http: client(emulator.url), eid: emulator.eid, stop: () => emulator.stop() };
});
