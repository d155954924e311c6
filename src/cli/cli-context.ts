import { type BrokerAdmin, createBrokerAdmin } from "./broker-admin.ts";
import { CliError, type CliIo } from "./cli-io.ts";

/** What every command gets: the I/O, how to print, and the Broker (made on first use, after the flags are read). */
export interface CliContext {
  readonly io: CliIo;
  /** The Broker's admin API; a CliError when NEXUS_BROKER_URL or NEXUS_ADMIN_KEY is missing. */
  broker(): BrokerAdmin;
  /** `text` in a colour when colour is on: for terminals only. */
  paint(colour: "red" | "green" | "yellow" | "dim" | "bold", text: string): string;
}

/** Global options (flags override the environment). */
export interface GlobalOptions {
  readonly brokerUrl?: string;
  readonly adminKey?: string;
}

const codes = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;

/** Creates the context of one run. */
export function createCliContext(io: CliIo, options: () => GlobalOptions): CliContext {
  let admin: BrokerAdmin | undefined;
  return {
    io,
    broker() {
      if (admin !== undefined) return admin;
      const flags = options();
      const url = (flags.brokerUrl ?? io.env.NEXUS_BROKER_URL ?? "").replace(/\/$/, "");
      const adminKey = flags.adminKey ?? io.env.NEXUS_ADMIN_KEY ?? "";
      if (url === "" && adminKey === "") {
        throw new CliError("NEXUS_BROKER_URL and NEXUS_ADMIN_KEY are not set: set them (or pass --broker-url and --admin-key) to the Broker's URL, such as " +
          "http://localhost:8080, and one of its API_KEY values");
      }
      if (url === "") throw new CliError("NEXUS_BROKER_URL is not set: set it (or pass --broker-url) to the Broker's URL, such as http://localhost:8080");
      if (adminKey === "") throw new CliError("NEXUS_ADMIN_KEY is not set: set it (or pass --admin-key) to one of the Broker's API_KEY values");
      if (!/^https?:\/\/[^\s/]+/.test(url)) throw new CliError(`NEXUS_BROKER_URL must be an http(s) URL; got ${JSON.stringify(url.slice(0, 80))}`);
      admin = createBrokerAdmin({ url, adminKey, fetch: io.fetch });
      return admin;
    },
    paint(colour, text) {
      return io.color ? `\u001b[${codes[colour]}m${text}\u001b[0m` : text;
    },
  };
}
