import { AsyncLocalStorage } from "node:async_hooks";
import type { RequestScope, RequestScopeValues } from "../../shared/request-scope.ts";

// One store per process: a Broker and a Gateway in one process (tests) each set their own values per request.
const storage = new AsyncLocalStorage<RequestScopeValues>();

/** The request scope over Node's AsyncLocalStorage (also present under Deno). */
export const asyncRequestScope: RequestScope = {
  run: (values, fn) => storage.run(values, fn),
  current: () => storage.getStore(),
};
