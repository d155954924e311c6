/**
 * How long a change takes to reach the Gateway's answers: for each kind
 * (connection revoked, agent disabled, key rotated, credential rewritten as a
 * refresh writes it, session revoked), a fresh resource is read until the
 * Gateway answers it from its cache, then changed through the Broker (or, for
 * the rewritten credential, straight in the database, so only the
 * notification path can carry it), and read every millisecond until the
 * Gateway's answer reflects the change. The time is counted from the moment
 * the change was acknowledged. Optionally runs while REST load keeps both
 * processes busy.
 */
import { randomBytes } from "node:crypto";
import { createSql } from "../../src/broker/db/sql.ts";
import { sealedFields } from "../../src/broker/domain/sealed-fields.ts";
import { createKeyRing } from "../../src/broker/vault/key-ring.ts";
import { createVault } from "../../src/broker/vault/vault.ts";
import { createConnections, registerAgent, type TokenStack } from "../token-stack.ts";

/** The latencies of one kind of change. */
export interface PropagationResult {
  kind: string;
  underLoad: boolean;
  trials: number;
  medianMs: number;
  maxMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Measures every kind `trials` times; `underLoad` only labels the results (the caller runs the load). */
export async function measurePropagation(stack: TokenStack, options: { trials: number; underLoad: boolean; log: (line: string) => void }): Promise<PropagationResult[]> {
  const sql = createSql(stack.databaseUrl, { max: 1 });
  const vault = createVault(createKeyRing(new Map([["primary", Buffer.from(stack.encryptionKey, "base64")]]), "primary"));
  const admin = (method: string, path: string, body?: unknown) => fetch(`${stack.brokerOrigin}${path}`, {
    method, headers: { "x-api-key": stack.adminKey, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
  const gateway = (key: string, method: string, path: string, body?: string, type = "application/json") => fetch(`${stack.gatewayOrigin}${path}`, {
    method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": type }) }, ...(body === undefined ? {} : { body }),
  });
  const read = async (key: string, id: string) => {
    const res = await gateway(key, "GET", `/v1/token/${id}`);
    const body = (await res.json()) as { credentials?: { api_key?: string } };
    return { status: res.status, apiKey: body.credentials?.api_key };
  };
  const hits = async () => Number(/nexus_gateway_token_cache_lookups_total\{result="hit"\} (\d+)/.exec(await stack.gatewayMetrics())?.[1] ?? 0);
  /** Reads until the Gateway answers from its cache. */
  const warm = async (key: string, id: string) => {
    for (let i = 0; i < 2000; i++) {
      const before = await hits();
      if ((await read(key, id)).status !== 200) throw new Error(`connection ${id} does not read`);
      if ((await hits()) > before) return;
    }
    throw new Error("the Gateway never answered from its cache");
  };
  /** Ms from now until `reflected` holds, polled back to back. */
  const until = async (reflected: () => Promise<boolean>) => {
    const t0 = performance.now();
    while (!(await reflected())) {
      if (performance.now() - t0 > 30_000) throw new Error("the change never reached the Gateway");
    }
    return performance.now() - t0;
  };
  const fresh = async (name: string) => {
    const agent = await registerAgent(stack.brokerOrigin, stack.adminKey, `${name}-${randomBytes(4).toString("hex")}`);
    const [id] = await createConnections(stack.gatewayOrigin, agent.apiKey, 1);
    await warm(agent.apiKey, id!);
    return { agent, id: id! };
  };

  const kinds: [string, () => Promise<number>][] = [
    ["connection revoked", async () => {
      const { agent, id } = await fresh("prop-revoke");
      await admin("DELETE", `/connections/${id}`);
      return until(async () => (await read(agent.apiKey, id)).status !== 200);
    }],
    ["agent disabled", async () => {
      const { agent, id } = await fresh("prop-disable");
      await admin("DELETE", `/agents/${agent.id}`);
      return until(async () => (await read(agent.apiKey, id)).status !== 200);
    }],
    ["API key rotated", async () => {
      const { agent, id } = await fresh("prop-rotate");
      await admin("POST", `/agents/${agent.id}/rotate-key`);
      return until(async () => (await read(agent.apiKey, id)).status !== 200);
    }],
    ["credential rewritten (as a refresh writes it), straight in PostgreSQL", async () => {
      const { agent, id } = await fresh("prop-refresh");
      const value = `sk_rewritten_${randomBytes(6).toString("hex")}`;
      const ct = vault.seal(JSON.stringify({ api_key: value }), { ...sealedFields.credentialSecret, rowId: id });
      await sql`update credentials set secret_ct = ${ct}, key_id = ${vault.activeKeyId}, version = version + 1 where connection_id = ${id}`;
      return until(async () => (await read(agent.apiKey, id)).apiKey === value);
    }],
    ["session revoked", async () => {
      const { agent: owner, id } = await fresh("prop-session-owner");
      const delegate = await registerAgent(stack.brokerOrigin, stack.adminKey, `prop-session-delegate-${randomBytes(4).toString("hex")}`);
      const created = await gateway(owner.apiKey, "POST", "/v1/sessions", JSON.stringify({ connection_id: id, agent_id: delegate.id, ttl_seconds: 300 }));
      const session = (await created.json()) as { session_id?: string; session_token?: string };
      if (created.status !== 201 || session.session_token === undefined) throw new Error(`session: ${created.status} ${JSON.stringify(session)}`);
      const form = new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", subject_token: session.session_token, subject_token_type: "urn:ietf:params:oauth:token-type:jwt" });
      const exchange = async () => (await gateway(delegate.apiKey, "POST", "/v1/token-exchange", form.toString(), "application/x-www-form-urlencoded")).status;
      if ((await exchange()) !== 200) throw new Error("the exchange does not work before the revocation");
      await gateway(owner.apiKey, "DELETE", `/v1/sessions/${session.session_id}`);
      return until(async () => (await exchange()) !== 200);
    }],
  ];
  const results: PropagationResult[] = [];
  try {
    for (const [kind, trial] of kinds) {
      const ms: number[] = [];
      for (let i = 0; i < options.trials; i++) ms.push(await trial());
      const r = { kind, underLoad: options.underLoad, trials: ms.length, medianMs: median(ms), maxMs: Math.max(...ms) };
      options.log(`propagation${options.underLoad ? " under load" : ""}, ${kind}: median ${r.medianMs.toFixed(1)} ms, max ${r.maxMs.toFixed(1)} ms`);
      results.push(r);
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
  return results;
}
