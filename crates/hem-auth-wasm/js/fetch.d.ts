/** Anything with `handle(request) → response`: a `Device` or a `NotifyBroker`. */
export interface Handler {
  handle(request: {
    method?: string;
    path: string;
    headers?: Record<string, string>;
    body?: string | Uint8Array | null;
  }): { status: number; headers: Record<string, string>; body: string };
}

/** A `fetch` served by an in-process device: `/checkin` and `/notify/…` go to `broker` when
 * one is given, everything else to `device`. Relative URLs resolve against `origin`
 * (default `http://device.invalid`); the origin of an absolute URL is ignored. */
export function createFetch(
  device: Handler,
  options?: { broker?: Handler & { serves(path: string): boolean }; origin?: string },
): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
