import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'http';
import type { AddressInfo, Socket } from 'net';

/**
 * An HTTP proxy in front of a real S3 server, for fault tests: it forwards every request
 * unchanged (SigV4 signatures stay valid), lets a test act on a request before it is forwarded,
 * and can take the endpoint down (connections refused) and bring it back on the same port.
 */
export class S3Proxy {
  /** Return false to drop the request (its connection is destroyed, nothing reaches S3); a promise holds it until it settles. */
  onRequest: (req: IncomingMessage) => boolean | Promise<boolean> = () => true;
  readonly seen: { method: string; url: string }[] = [];
  /** Called with each forwarded request's whole body, once it has been sent on. */
  onBody: (req: { method: string; url: string }, body: Buffer) => void = () => undefined;
  private server: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  private constructor(private readonly target: URL) {
    this.server = this.makeServer();
  }

  static async start(target: string): Promise<S3Proxy> {
    const proxy = new S3Proxy(new URL(target));
    await proxy.listen(0);
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stop listening and cut every open connection: clients get ECONNREFUSED / ECONNRESET. */
  async down(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Listen again on the same port. */
  async up(): Promise<void> {
    this.server = this.makeServer();
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.down();
  }

  private makeServer(): Server {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return server;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.seen.push({ method: req.method ?? '', url: req.url ?? '' });
    const verdict = this.onRequest(req);
    if (typeof verdict === 'boolean') this.forward(req, res, verdict);
    else void verdict.then((ok) => this.forward(req, res, ok));
  }

  private forward(req: IncomingMessage, res: ServerResponse, ok: boolean): void {
    if (!ok) {
      req.socket.destroy();
      return;
    }
    const upstream = request({ host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => req.socket.destroy());
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => this.onBody({ method: req.method ?? '', url: req.url ?? '' }, Buffer.concat(chunks)));
    req.pipe(upstream);
  }
}
