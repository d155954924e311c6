import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Agent as AgentMessage, AgentSchema, type AgentService as AgentServiceDesc } from "../../../gen/nexus/broker/v1/agent_service_pb.ts";
import { invalidArgument } from "../../shared/errors.ts";
import type { Agent } from "../domain/agent.ts";
import type { JsonObject } from "../domain/provider.ts";
import type { AgentDraft, AgentService } from "../services/agent-service.ts";
import { callerOf } from "./caller.ts";

const changeable = new Set(["description", "allowed_providers", "jwks"]);

/** The AgentService RPCs: proto in, proto out. A key appears only in the create and rotate answers. */
export function createAgentHandlers(agents: AgentService): ServiceImpl<typeof AgentServiceDesc> {
  return {
    async createAgent(req, ctx) {
      const a = req.agent;
      const draft: AgentDraft = {
        name: a?.name ?? "", description: a?.description ?? "", allowedProviders: a?.allowedProviders ?? [],
        jwks: (a?.jwks as JsonObject | undefined) ?? null,
      };
      const { agent, apiKey } = await agents.create(draft, callerOf(ctx));
      ctx.responseHeader.set("x-http-code", "201");
      ctx.responseHeader.set("location", `/agents/${agent.id}`);
      ctx.responseHeader.set("cache-control", "no-store");
      return { agent: agentToProto(agent), apiKey };
    },
    async listAgents() {
      return { agents: (await agents.list()).map(agentToProto) };
    },
    async getAgent(req) {
      return { agent: agentToProto(await agents.get(req.id)) };
    },
    async updateAgent(req, ctx) {
      const paths = req.updateMask?.paths ?? [];
      const changes: { -readonly [K in keyof Omit<AgentDraft, "name">]?: AgentDraft[K] } = {};
      for (const raw of paths) {
        const path = raw.replace(/^agent\./, "").replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
        if (!changeable.has(path)) throw invalidArgument("update_mask", `"${raw}" cannot be changed; description, allowed_providers and jwks can`);
        if (path === "description") changes.description = req.agent?.description ?? "";
        if (path === "allowed_providers") changes.allowedProviders = req.agent?.allowedProviders ?? [];
        if (path === "jwks") changes.jwks = (req.agent?.jwks as JsonObject | undefined) ?? null;
      }
      return { agent: agentToProto(await agents.update(req.id, changes, callerOf(ctx), req.expectedVersion === 0n ? undefined : req.expectedVersion)) };
    },
    async rotateAgentKey(req, ctx) {
      ctx.responseHeader.set("cache-control", "no-store");
      return { apiKey: await agents.rotateKey(req.id, callerOf(ctx)) };
    },
    async disableAgent(req, ctx) {
      return { agent: agentToProto(await agents.disable(req.id, callerOf(ctx), req.expectedVersion === 0n ? undefined : req.expectedVersion)) };
    },
  };
}

function agentToProto(a: Agent): AgentMessage {
  return create(AgentSchema, {
    id: a.id, name: a.name, description: a.description, allowedProviders: [...a.allowedProviders],
    ...(a.jwks === null ? {} : { jwks: a.jwks as never }),
    hasApiKey: a.keyDigest !== null, disabled: a.disabledAt !== null, version: a.version,
    createTime: timestampFromDate(a.createdAt), updateTime: timestampFromDate(a.updatedAt),
    ...(a.disabledAt === null ? {} : { disableTime: timestampFromDate(a.disabledAt) }),
  });
}
