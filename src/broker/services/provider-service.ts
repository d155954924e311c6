import type { ProviderStore } from "../domain/ports.ts";
import type { Provider } from "../domain/provider.ts";

/** Dependencies of {@linkcode createProviderService}. */
export interface ProviderServiceDeps {
  readonly providers: ProviderStore;
}

/** Use cases of the provider registry. */
export interface ProviderService {
  /** Live providers, newest first. */
  list(): Promise<Provider[]>;
}

/** Creates the provider registry's use cases. */
export function createProviderService(deps: ProviderServiceDeps): ProviderService {
  return {
    list: () => deps.providers.list(),
  };
}
