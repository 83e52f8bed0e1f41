import { DockerClient, parseDockerHost, LabEnvironmentError } from "/work/main/lab/shell/docker.ts";
for (const host of Deno.args) {
  try { await new DockerClient(parseDockerHost(host)).info(); console.log("ok", host); }
  catch (e) { console.log(host, "=>", (e as Error).name, (e as Error).message, "|", (e as LabEnvironmentError).hint, "| cause:", String((e as Error).cause)); }
}
