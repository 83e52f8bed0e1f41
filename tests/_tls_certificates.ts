/**
 * TLS certificates for a Docker Engine on 127.0.0.1, made with openssl in a
 * folder the test removes: a CA, a server certificate for IP 127.0.0.1 and a
 * client certificate, the way Docker's "protect the daemon socket" guide
 * makes them (tests/matrix).
 *
 * @module
 */

/** Where the files are: the server's for dockerd, `clientDir` for DOCKER_CERT_PATH. */
export interface TlsCertificates {
  /** The CA's certificate (PEM), for dockerd's --tlscacert. */
  caCert: string;
  /** The server's certificate and key, for dockerd's --tlscert and --tlskey. */
  serverCert: string;
  serverKey: string;
  /** ca.pem, cert.pem and key.pem of the client, as DOCKER_CERT_PATH holds them. */
  clientDir: string;
}

/** Run openssl in `dir`; a failure throws with its output. */
async function _openssl(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** `openssl req`'s arguments for a new P-256 key `NAME-key.pem` (unencrypted) and the subject "tcplab test NAME". */
function _newKey(name: string): string[] {
  return [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}-key.pem`,
    "-subj",
    `/CN=tcplab test ${name}`,
  ];
}

/** A new EC key and self-signed CA certificate `NAME.pem` (key `NAME-key.pem`) in `dir`. */
async function _makeCa(dir: string, name: string): Promise<void> {
  await _openssl(dir, "req", "-x509", ..._newKey(name), "-out", `${name}.pem`, "-days", "2");
}

/** A key `NAME-key.pem` and a certificate `NAME.pem` signed by `ca`, with the extensions `ext`. */
async function _makeSigned(dir: string, name: string, ca: string, ext: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/${name}.ext`, ext);
  await _openssl(dir, "req", ..._newKey(name), "-out", `${name}.csr`);
  await _openssl(
    dir,
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.pem`,
    "-CAkey",
    `${ca}-key.pem`,
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  );
}

/**
 * Make a CA, a server certificate for 127.0.0.1 and a client certificate in
 * `dir` (which the caller removes).
 */
export async function makeTlsCertificates(dir: string): Promise<TlsCertificates> {
  await _makeCa(dir, "ca");
  await _makeSigned(dir, "server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  await _makeSigned(dir, "client", "ca", "extendedKeyUsage=clientAuth\n");
  const clientDir = `${dir}/client`;
  await Deno.mkdir(clientDir);
  await Deno.copyFile(`${dir}/ca.pem`, `${clientDir}/ca.pem`);
  await Deno.copyFile(`${dir}/client.pem`, `${clientDir}/cert.pem`);
  await Deno.copyFile(`${dir}/client-key.pem`, `${clientDir}/key.pem`);
  return {
    caCert: `${dir}/ca.pem`,
    serverCert: `${dir}/server.pem`,
    serverKey: `${dir}/server-key.pem`,
    clientDir,
  };
}

/**
 * A DOCKER_CERT_PATH in `dir` with the client's own certificate and key but
 * another CA's certificate as ca.pem: the server's certificate does not
 * verify against it.
 */
export async function makeWrongCaClientDir(dir: string, certificates: TlsCertificates): Promise<string> {
  await _makeCa(dir, "other-ca");
  const wrong = `${dir}/wrong-ca`;
  await Deno.mkdir(wrong);
  await Deno.copyFile(`${dir}/other-ca.pem`, `${wrong}/ca.pem`);
  await Deno.copyFile(`${certificates.clientDir}/cert.pem`, `${wrong}/cert.pem`);
  await Deno.copyFile(`${certificates.clientDir}/key.pem`, `${wrong}/key.pem`);
  return wrong;
}
