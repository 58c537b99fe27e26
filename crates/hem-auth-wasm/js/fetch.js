// The fetch shim: `createFetch(device, { broker })` is a function with the WHATWG `fetch`
// signature, `(input, init) => Promise<Response>`, served by an in-process `Device` (and a
// `NotifyBroker` for `/checkin` and `/notify/…`, as `hem-emulator --broker` serves them on
// the device's port). A client written for `fetch` uses it unchanged: any origin is accepted,
// the path picks the endpoint. Needs the runtime's `Request` and `Response` (Node 18+,
// browsers). Imports nothing, so it works with every build of the package.

/**
 * @param {{ handle(request: object): { status: number, headers: object, body: string } }} device
 * @param {{ broker?: { handle(request: object): object, serves(path: string): boolean }, origin?: string }} [options]
 * @returns {(input: RequestInfo | URL, init?: RequestInit) => Promise<Response>}
 */
export function createFetch(device, { broker, origin = "http://device.invalid" } = {}) {
  if (!device || typeof device.handle !== "function") {
    throw new TypeError("createFetch: `device` must be a Device");
  }
  return async function fetch(input, init) {
    // Relative URLs are resolved against `origin` (a real fetch in Node refuses them).
    const request =
      input instanceof Request ? new Request(input, init) : new Request(new URL(input, origin), init);
    request.signal?.throwIfAborted();
    const path = new URL(request.url).pathname;
    const method = request.method;
    const body =
      method === "GET" || method === "HEAD" ? undefined : new Uint8Array(await request.arrayBuffer());
    const headers = {};
    const authorization = request.headers.get("authorization");
    if (authorization !== null) headers.authorization = authorization;
    const server = broker && broker.serves(path) ? broker : device;
    const answer = server.handle({ method, path, headers, body });
    return new Response(method === "HEAD" || answer.body === "" ? null : answer.body, {
      status: answer.status,
      headers: answer.headers,
    });
  };
}
