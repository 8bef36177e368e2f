// Pins a locally built image by a registry digest (local mode): Docker's classic image store records a digest only on push or pull,
// and compose/ runs images by digest only. So the image is pushed to a loopback endpoint that stores nothing: it answers every layer
// as already present (they are this engine's own) and takes the manifest, whose sha256 is the digest the engine then records.
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { runCommand } from "../../compose/executor.ts";

/** Serves the push side of the registry API (v2) for one push, keeping nothing. */
async function startPinEndpoint(): Promise<{ host: string; close: () => Promise<void> }> {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://pin");
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => {
      // Blob bodies (if an engine uploads instead of asking first) are discarded; only a manifest is kept to be hashed.
      if (url.pathname.includes("/manifests/")) chunks.push(chunk);
    });
    request.on("end", () => {
      const headers = { "Docker-Distribution-API-Version": "registry/2.0" };
      const blob = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
      const upload = /^\/v2\/(.+)\/blobs\/uploads\/?(.*)$/.exec(url.pathname);
      const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
      if (url.pathname === "/v2/" || url.pathname === "/v2") return void response.writeHead(200, headers).end("{}");
      if (blob && (request.method === "HEAD" || request.method === "GET")) {
        return void response.writeHead(200, { ...headers, "Docker-Content-Digest": blob[2], "Content-Length": "0" }).end();
      }
      if (upload && request.method === "POST") {
        const mounted = url.searchParams.get("mount");
        if (mounted) return void response.writeHead(201, { ...headers, Location: `/v2/${upload[1]}/blobs/${mounted}`, "Docker-Content-Digest": mounted }).end();
        return void response.writeHead(202, { ...headers, Location: `/v2/${upload[1]}/blobs/uploads/pin`, "Docker-Upload-UUID": "pin", Range: "0-0" }).end();
      }
      if (upload && request.method === "PATCH") return void response.writeHead(202, { ...headers, Location: `/v2/${upload[1]}/blobs/uploads/pin`, Range: "0-0" }).end();
      if (upload && request.method === "PUT") {
        const digest = url.searchParams.get("digest") ?? "";
        return void response.writeHead(201, { ...headers, Location: `/v2/${upload[1]}/blobs/${digest}`, "Docker-Content-Digest": digest }).end();
      }
      if (manifest && request.method === "PUT") {
        const digest = `sha256:${createHash("sha256").update(Buffer.concat(chunks)).digest("hex")}`;
        return void response.writeHead(201, { ...headers, Location: `/v2/${manifest[1]}/manifests/${digest}`, "Docker-Content-Digest": digest }).end();
      }
      response.writeHead(404, { ...headers, "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNSUPPORTED", message: "this endpoint only pins" }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Tags `image` as <pin host>/<repository>:<its tag>, pushes it to the pin endpoint, returns "repository:tag@sha256:…" as the engine now knows it. */
export async function pinImage(image: string, repository: string, docker = "docker"): Promise<string> {
  const tag = image.includes(":") ? image.slice(image.lastIndexOf(":") + 1) : "latest";
  const endpoint = await startPinEndpoint();
  try {
    const remote = `${endpoint.host}/${repository}:${tag}`;
    const tagged = await runCommand([docker, "tag", image, remote], { timeoutMs: 30_000 });
    if (tagged.exitCode !== 0) throw new Error(`docker tag ${image} ${remote}: ${tagged.stderr.trim() || tagged.failure}`);
    const pushed = await runCommand([docker, "push", remote], { timeoutMs: 300_000 });
    const digest = /digest: (sha256:[a-f0-9]{64})/.exec(pushed.stdout)?.[1];
    if (pushed.exitCode !== 0 || !digest) throw new Error(`docker push ${remote} to the loopback pin endpoint: ${(pushed.stderr || pushed.stdout).trim().split("\n").at(-1) || pushed.failure}`);
    return `${remote}@${digest}`;
  } finally {
    await endpoint.close();
  }
}
