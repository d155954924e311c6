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
      const missing = [url === "" ? "NEXUS_BROKER_URL (or --broker-url): the Broker's URL, such as http://localhost:8080" : "",
        adminKey === "" ? "NEXUS_ADMIN_KEY (or --admin-key): one of the Broker's API_KEY values" : ""].filter((m) => m !== "");
      if (missing.length > 0) throw new CliError(`the Broker is not configured; set ${missing.join(" and ")}`);
      if (!/^https?:\/\/[^\s/]+/.test(url)) throw new CliError(`NEXUS_BROKER_URL must be an http(s) URL; got ${JSON.stringify(url.slice(0, 80))}`);
      admin = createBrokerAdmin({ url, adminKey, fetch: io.fetch });
      return admin;
    },
    paint(colour, text) {
      return io.color ? `\u001b[${codes[colour]}m${text}\u001b[0m` : text;
    },
  };
}
