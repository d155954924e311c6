import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { StatusService } from "../../../gen/nexus/broker/v1/status_service_pb.ts";
import type { BrokerStatus } from "../services/status-service.ts";

/** The StatusService RPCs. */
export function createStatusHandlers(status: { get(): Promise<BrokerStatus> }): ServiceImpl<typeof StatusService> {
  return {
    async getStatus() {
      const s = await status.get();
      return {
        serverTime: timestampFromDate(s.serverTime), databaseReachable: s.databaseReachable,
        migrationsKnown: [...s.migrationsKnown], migrationsApplied: [...s.migrationsApplied],
        activeKeyId: s.activeKeyId, loadedKeyIds: [...s.loadedKeyIds], keyIdsInUse: [...s.keyIdsInUse],
        quarantinedRows: s.quarantinedRows, instanceId: s.instanceId,
      };
    },
  };
}
