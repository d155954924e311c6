/**
 * A random sample of clearances and requests through the Gateway (issue 17),
 * against the real OpenID provider that narrows tokens on refresh: whatever
 * is asked, on whichever protocol, a session's scopes are within its
 * parent's (or the connection's), an exchange issues nothing outside the
 * session's clearance (the scope the provider itself reports), and a child
 * ends no later than its parent. The unit-level properties run hundreds of
 * cases (test/unit/session-clearance.test.ts); this checks the wiring.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { brokerRest } from "../support/broker-api.ts";
import { prng } from "../support/prng.ts";
import {
  agentClients, connectionScopes, type IssuedSessionJson, protocols, refusal, type SessionStack, startSessionStack,
} from "../support/sessions.ts";

const seed = 0x17_0de1;
const samples = 30;
/** What is asked for: the scopes the connection asked for, and one it did not. */
const universe = [...connectionScopes, "repo"];
const within = (xs: readonly string[], ceiling: readonly string[]) => xs.every((s) => ceiling.includes(s));

describe("session clearance through the Gateway: a random sample", () => {
  let f: SessionStack;
  /** What the provider granted (oidc-provider leaves offline_access out): a root session's ceiling. */
  let granted: string[];
  before(async () => {
    f = await startSessionStack({ idp: { accessTokenTtl: 600 } });
    const connection = await brokerRest(f.stack, "GET", `/connections/${f.connectionId}`);
    granted = ((connection.body.connection ?? connection.body) as { granted_scopes: string[] }).granted_scopes;
    assert.ok(granted.length >= 3 && within(granted, connectionScopes), JSON.stringify(connection.body));
  });
  after(() => f?.close());

  it(`issues nothing outside a clearance, and every child fits its parent (${samples} cases, seed ${seed})`, async (t) => {
    const r = prng(seed);
    const tally = { roots: 0, exchanges: 0, children: 0, refused: 0 };
    for (let i = 0; i < samples; i++) {
      const protocol = protocols[i % protocols.length]!;
      const [a, b, c] = agentClients(f, protocol);
      try {
        const at = (what: string) => `case ${i} (${protocol}), ${what}`;
        // Mostly requests that could fit, some that cannot.
        const asked = r.next() < 0.8 ? r.subset(granted, 0.6) : r.subset(universe, 0.5);
        let root: IssuedSessionJson;
        if (!within(asked, granted)) {
          assert.equal((await refusal(a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: asked }))).error, "invalid_scope", at(`root ${asked}`));
          tally.refused++;
          continue;
        }
        root = await a.createSession({ connection_id: f.connectionId, agent_id: f.agents.B.id, scopes: asked, ttl_seconds: 60 + r.int(600) });
        tally.roots++;
        assert.ok(within(root.scopes, granted) && root.scopes.length > 0, at(`root scopes ${root.scopes}`));

        const scope = r.next() < 0.7 ? r.subset(root.scopes, 0.5) : r.subset(universe, 0.4);
        if (within(scope, root.scopes)) {
          const x = await b.exchange({ subject_token: root.session_token, scope: scope.join(" ") });
          tally.exchanges++;
          const issued = x.scope.split(" ").filter((s) => s !== "");
          assert.ok(issued.length > 0 && within(issued, root.scopes), at(`exchange ${scope} issued "${x.scope}" outside ${root.scopes}`));
          assert.ok(within(issued, scope.length === 0 ? root.scopes : scope), at(`exchange ${scope} issued "${x.scope}"`));
        } else {
          assert.equal((await refusal(b.exchange({ subject_token: root.session_token, scope: scope.join(" ") }))).error, "invalid_scope", at(`exchange ${scope}`));
          tally.refused++;
        }

        const childScopes = r.next() < 0.7 ? r.subset(root.scopes, 0.6) : r.subset(universe, 0.3);
        const ttl = r.next() < 0.3 ? 0 : r.int(900);
        const parentLeft = root.expires_at - Math.floor(Date.now() / 1000);
        const fits = within(childScopes, root.scopes) && ttl <= parentLeft - 1;
        let child: IssuedSessionJson;
        try {
          child = await b.createSession({ connection_id: f.connectionId, agent_id: f.agents.C.id, scopes: childScopes, ttl_seconds: ttl, parent_session_id: root.session_id });
        } catch (error) {
          const e = error as { error?: string };
          assert.ok(!fits, at(`child ${childScopes} ttl ${ttl} of a parent with ${parentLeft} s left refused: ${String(error)}`));
          assert.ok(e.error === "invalid_scope" || e.error === "invalid_argument", at(String(error)));
          tally.refused++;
          continue;
        }
        tally.children++;
        assert.ok(within(child.scopes, root.scopes), at(`child scopes ${child.scopes} outside ${root.scopes}`));
        assert.ok(child.expires_at <= root.expires_at, at(`child expires ${child.expires_at} after ${root.expires_at}`));
        const x = await c.exchange({ subject_token: child.session_token });
        assert.ok(within(x.scope.split(" "), child.scopes), at(`child exchange issued "${x.scope}" outside ${child.scopes}`));
        assert.ok(x.expires_in <= child.expires_at - Math.floor(Date.now() / 1000) + 1, at(`expires_in ${x.expires_in}`));
      } finally {
        for (const client of [a, b, c]) client.close();
      }
    }
    t.diagnostic(JSON.stringify(tally));
    assert.ok(tally.exchanges > 5 && tally.children > 5 && tally.refused > 5, JSON.stringify(tally));
  });
});
