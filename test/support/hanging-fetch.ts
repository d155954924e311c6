/**
 * A fake fetch that never answers, like a provider that accepted the
 * connection and went silent. It holds a timer while pending, as a real
 * socket would, so the process stays alive until the request's signal
 * aborts it (deadline timers such as AbortSignal.timeout do not).
 */
export function hangingFetch(rejectWith: (signal: AbortSignal) => unknown = (signal) => signal.reason) {
  return (_input: string | URL | Request, init?: RequestInit): Promise<Response> =>
    new Promise<Response>((_resolve, reject) => {
      const signal = init?.signal;
      if (signal === undefined || signal === null) return;
      const socket = setInterval(() => {}, 1_000);
      const abort = () => {
        clearInterval(socket);
        reject(rejectWith(signal));
      };
      if (signal.aborted) abort();
      else signal.addEventListener("abort", abort, { once: true });
    });
}
