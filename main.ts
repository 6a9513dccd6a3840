/**
 * Starts the meeting server: `deno task start [--port 8000] [--data-dir ./data] ...`.
 * Prints its address; shuts down cleanly on SIGINT and SIGTERM.
 *
 * @module
 */

import { FlagError, parseFlags, USAGE } from "./server/config.ts";
import { PortInUseError, startServer } from "./server/server.ts";

async function main(): Promise<number> {
  let config;
  try {
    config = parseFlags(Deno.args);
  } catch (err) {
    if (err instanceof FlagError) {
      console.error(`error: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (config.help) {
    console.log(USAGE);
    return 0;
  }
  let server;
  try {
    server = await startServer({
      hostname: config.host,
      port: config.port,
      dataDir: config.dataDir,
      graceMs: config.graceSeconds * 1000,
      mixSpeakers: config.mixSpeakers,
      udpPort: config.udpPort,
      p2p: config.p2p,
    });
  } catch (err) {
    if (err instanceof PortInUseError) {
      console.error(
        `error: ${err.flag} ${err.port} is already in use; pick another with ${err.flag}`,
      );
      return 1;
    }
    console.error(`error: ${(err as Error).message}`);
    return 1;
  }
  const shown = config.host === "0.0.0.0" ? `http://localhost:${server.port}/` : server.url;
  console.log(
    `Meet is running at ${shown}  (RTP over UDP on port ${server.udpPort}, records in ${config.dataDir})`,
  );
  const stopped = Promise.withResolvers<void>();
  const stop = () => stopped.resolve();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await stopped.promise;
  console.log("Shutting down…");
  await server.close();
  console.log("Stopped.");
  return 0;
}

Deno.exit(await main());
