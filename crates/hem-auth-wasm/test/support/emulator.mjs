// Starts the real hem-emulator binary (built by `npm run build:emulator`) on a free loopback
// port and gives a small fetch client for it.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const workspace = fileURLToPath(new URL("../../../../", import.meta.url));

/** The emulator binary: $HEM_EMULATOR, else the workspace's debug build. */
export function emulatorPath() {
  if (process.env.HEM_EMULATOR) return process.env.HEM_EMULATOR;
  const target = process.env.CARGO_TARGET_DIR ?? join(workspace, "target");
  const path = join(target, "debug", "hem-emulator");
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`npm run build:emulator\` (or set HEM_EMULATOR)`);
  }
  return path;
}

/**
 * Runs `hem-emulator --listen 127.0.0.1:0 ...args` (the user password, if any, in
 * HEM_PASSWORD: off the command line) and resolves once it prints its URL and eid.
 * Returns `{ url, eid, stop, stderr }`.
 */
export function startEmulator(args, { password } = {}) {
  const env = { ...process.env };
  delete env.HEM_PASSWORD;
  if (password !== undefined) env.HEM_PASSWORD = password;
  const child = spawn(emulatorPath(), ["--listen", "127.0.0.1:0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`hem-emulator did not start within 60 s; stderr: ${stderr}`));
    }, 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`hem-emulator exited with ${code}; stderr: ${stderr}`));
    });
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)\n(\S+)\n/);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      resolve({
        url: m[1],
        eid: m[2],
        stderr: () => stderr,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      });
    });
  });
}

/** A JSON-over-HTTP client for one base URL: `{ status, text, json }` for every answer.
 * `fetch` is the global one unless given (the in-process device's shim). */
export function client(base, fetch = globalThis.fetch) {
  async function call(method, path, { body, token } = {}) {
    const url = path.startsWith("http") ? path : `${base}${path}`;
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, text, json };
  }
  return {
    get: (path, opts) => call("GET", path, opts),
    post: (path, body, opts = {}) => call("POST", path, { ...opts, body }),
    delete: (path, body, opts = {}) => call("DELETE", path, { ...opts, body }),
  };
}

/** Unix seconds now. */
export const now = () => Math.floor(Date.now() / 1000);
