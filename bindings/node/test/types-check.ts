// Compiled with `tsc --noEmit` by scripts/test.d/50-node.sh: the declarations type-check
// real usage.
import micro, { Service, Client, MicroError, Registry, RegistryService, ServerStream, Reply } from 'micro';

async function main(): Promise<void> {
  const svc: Service = new micro.Service({ name: 'ts', registry: 'memory', registerTtl: 30000 });
  svc.handle('Greeter.Hello', async (req: { name: string }) => ({ message: `Hello ${req.name}` }));
  svc.handle('Greeter.Stream', async (s: ServerStream) => {
    for await (const m of s) await s.send(m);
  }, { stream: true });
  svc.subscribe('t', (body, msg) => { void msg.topic; }, { queue: 'q' });
  await svc.start();
  const c: Client = svc.client();
  const rr: Client = new Client({ registry: 'memory', selector: 'roundrobin' });
  // @ts-expect-error: a selector is 'random' or 'roundrobin'
  void new Client({ selector: 'fastest' });
  void rr;
  const r: Reply = await c.callRaw('ts', 'Greeter.Hello', Buffer.from('{}'), { contentType: 'application/json', timeout: 1000 });
  const b: { message: string } = await c.call('ts', 'Greeter.Hello', { name: 'x' }, { address: ['127.0.0.1:1'] });
  svc.wrap(async (req, ctx, next) => (ctx.endpoint === 'X.Y' ? { short: true } : next(req, ctx)))
    .wrapSubscriber(async (msg, next) => { if (msg.topic !== 'skip') await next(msg); });
  const wc: Client = new Client({ registry: 'memory', wrappers: [async (call, next) => next({ ...call, metadata: { ...call.metadata, 'X-U': 'u' } })] })
    .wrap(async () => new Reply({ body: Buffer.from('{}'), contentType: 'application/json' }));
  // @ts-expect-error: a client wrapper resolves to a Reply
  wc.wrap(async () => 'not a reply');
  const st = await c.stream('ts', 'Greeter.Stream');
  for await (const m of st) void m;
  await c.publish('t', new Uint8Array([1]), { contentType: 'application/octet-stream' });
  const e = new MicroError({ id: 'id', code: 409, detail: 'detail' });
  const positional: MicroError = new MicroError('id', 500, 'detail');
  const wrapped: MicroError = MicroError.wrap(positional, { code: 502 });
  // @ts-expect-error: go-micro's (id, detail, code) order is not accepted
  void new MicroError('id', 'detail', 500);
  void wrapped;
  const reg = new Registry('memory');
  await reg.listServices();
  const own: RegistryService[] = await svc.registry().getService('ts');
  const addresses: string[] = own.flatMap((x) => (x.nodes ?? []).map((n) => n.address));
  const teapot: string = micro.native.statusText(418);
  void [addresses, teapot, e.toString()];
  void [r.raw, r.contentType, b.message, e.code, e.status, micro.version];
  const n = new micro.native.NativeService({ name: 'raw' });
  const batch = await n.nextRequests(16);
  for (let j = 0; j < batch.calls.length; j += micro.native.CALL_STRIDE) n.respondCall(batch.calls[j], Buffer.from('{}'), 'application/json');
  for (const x of batch.others) x.respond(Buffer.from('{}'), 'application/json');
  const info: ReturnType<typeof n.callInfo> = n.callInfo(batch.calls[0]);
  if (info) void [info.service.length, Object.keys(info.header)];
  const endpoint: string = batch.names[batch.calls[2]];
  const tp: string | null | undefined = batch.traceparents?.[0];
  void [info, batch.bodies.subarray(0, batch.calls[1]), endpoint, tp];
  n.respondCalls(Float64Array.of(batch.calls[0]), Uint32Array.of(2), Buffer.from('{}'), null);
  n.respondLines(Float64Array.of(batch.calls[0]), '{}\n');
  await svc.close();
}
void main;
