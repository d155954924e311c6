/**
 * FeedService served in memory (connect's router transport runs the real
 * gRPC protocol code without a network), each call scripted by the test:
 * it sends what the test pushes, fails with the code the test names, and
 * records its metadata, its requests and whether the client cancelled it.
 * Everything is promise-based, so it runs under manual timers.
 */
import { Code, ConnectError, createRouterTransport, type HandlerContext, type Transport } from "@connectrpc/connect";
import { FeedService } from "./feed-service.ts";

type Step = { kind: "send"; text: string } | { kind: "fail"; code: Code } | { kind: "end" };

/** One call as the server sees it. */
export interface ScriptedCall {
  readonly method: "subscribe" | "converse";
  /** Its credential metadata: `authorization`, else `x-api-key`. */
  readonly credential: string;
  /** Subscribe's topic, or the texts a bidi call received. */
  readonly requests: string[];
  cancelled: boolean;
  /** Whether the client ended its request stream (bidi). */
  requestsEnded: boolean;
  /** Sends a message: a FeedEvent with this topic, or a ConverseReply with this text. */
  send(text: string): void;
  fail(code: Code): void;
  /** Ends the call with OK. */
  end(): void;
}

/** A scripted FeedService and the transport that reaches it. */
export interface ScriptedFeed {
  readonly transport: Transport;
  readonly calls: ScriptedCall[];
  /** The calls the client has not cancelled and the script has not ended. */
  open(): ScriptedCall[];
}

export function scriptedFeed(): ScriptedFeed {
  const calls: ScriptedCall[] = [];
  const ended = new Set<ScriptedCall>();

  function begin(method: ScriptedCall["method"], ctx: HandlerContext) {
    const steps: Step[] = [];
    let wake: (() => void) | undefined;
    const push = (step: Step) => {
      steps.push(step);
      wake?.();
    };
    const call: ScriptedCall = {
      method, credential: ctx.requestHeader.get("authorization") ?? ctx.requestHeader.get("x-api-key") ?? "", requests: [],
      cancelled: false, requestsEnded: false,
      send: (text) => push({ kind: "send", text }),
      fail: (code) => push({ kind: "fail", code }),
      end: () => push({ kind: "end" }),
    };
    ctx.signal.addEventListener("abort", () => {
      if (!ended.has(call)) call.cancelled = true;
      wake?.();
    });
    calls.push(call);
    const next = async (): Promise<Step> => {
      while (steps.length === 0) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        await new Promise<void>((resolve) => (wake = resolve));
      }
      const step = steps.shift()!;
      if (step.kind !== "send") ended.add(call);
      if (step.kind === "fail") throw new ConnectError(`scripted ${Code[step.code]}`, step.code);
      return step;
    };
    return { call, next };
  }

  const transport = createRouterTransport((router) => router.service(FeedService, {
    async *subscribe(request, ctx) {
      const { call, next } = begin("subscribe", ctx);
      call.requests.push(request.topic);
      for (let step = await next(), seq = 1; step.kind === "send"; step = await next(), seq++) yield { seq, topic: step.text };
    },
    async *converse(requests, ctx) {
      const { call, next } = begin("converse", ctx);
      void (async () => {
        for await (const r of requests) call.requests.push(r.text);
        call.requestsEnded = true;
      })().catch(() => (call.requestsEnded = true));
      for (let step = await next(), seq = 1; step.kind === "send"; step = await next(), seq++) yield { seq, text: step.text };
    },
  }));
  return { transport, calls, open: () => calls.filter((c) => !c.cancelled && !ended.has(c)) };
}
