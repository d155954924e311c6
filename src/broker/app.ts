import type { Registry } from "prom-client";
import { AuditService } from "../../gen/nexus/broker/v1/audit_service_pb.ts";
import { AuthorizationService } from "../../gen/nexus/broker/v1/authorization_service_pb.ts";
import { ConnectionService } from "../../gen/nexus/broker/v1/connection_service_pb.ts";
import { ProviderService } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { createErrorInterceptor } from "../shared/connect-errors.ts";
import type { Logger } from "../shared/logger.ts";
import { createApiKeyAuth } from "../shared/server/api-key-auth.ts";
import { createHttpApp, type HttpApp } from "../shared/server/http-app.ts";
import type { BrokerConfig } from "./config.ts";
import type { Sql } from "./db/sql.ts";
import { createProviderHandlers } from "./handlers/provider-handlers.ts";
import { createProviderRepository } from "./repositories/provider-repository.ts";
import { createDatabaseHealth } from "./repositories/database-health.ts";
import { createSealedValueRepository } from "./repositories/sealed-value-repository.ts";
import { assertKeysLoaded } from "./services/key-rotation-service.ts";
import { createProviderService } from "./services/provider-service.ts";
import type { Vault } from "./vault/vault.ts";

/** What the Broker needs from its runtime; tests pass their own. */
export interface BrokerDeps {
  readonly sql: Sql;
  readonly vault: Vault;
  readonly fetch: typeof fetch;
  readonly now: () => number;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Aborted when the process shuts down. */
  readonly shutdownSignal: AbortSignal;
}

/** A built Broker, not yet listening. */
export interface Broker {
  readonly app: HttpApp;
  /** Stops background work. The runtime closes the server and the pool. */
  close(): Promise<void>;
}

/** Procedures anyone may call: health, reflection, and the browser end of handshakes. */
export const brokerPublicProcedures = [
  "/grpc.health.v1.Health/",
  "/grpc.reflection.v1.ServerReflection/",
  "/grpc.reflection.v1alpha.ServerReflection/",
  `/${AuthorizationService.typeName}/`,
];

/** The Broker's composition root: the one place that wires every layer. */
export async function buildBroker(config: BrokerConfig, deps: BrokerDeps): Promise<Broker> {
  await assertKeysLoaded(createSealedValueRepository(deps.sql), [...config.encryptionKeys.keys()]);
  const providers = createProviderRepository(deps.sql);
  const providerService = createProviderService({ providers });
  const auth = await createApiKeyAuth({ keys: config.apiKeys, role: "key", publicProcedures: brokerPublicProcedures });
  const app = createHttpApp({
    routes: (router) => {
      router.service(ProviderService, createProviderHandlers(providerService));
      router.service(ConnectionService, {});
      router.service(AuditService, {});
      router.service(AuthorizationService, {});
    },
    interceptors: [createErrorInterceptor(deps.logger), auth],
    health: createDatabaseHealth(deps.sql, deps.now),
    registry: deps.registry,
    shutdownSignal: deps.shutdownSignal,
    logger: deps.logger,
  });
  return {
    app,
    async close() {},
  };
}
