// `node client.js NAME [SERVICE]` calls SERVICE's Greeter.Hello (default: greeter) and
// prints the reply's message.
const micro = require('micro');

async function main() {
  const [name = 'John', service = 'greeter'] = process.argv.slice(2);
  const client = new micro.Client();
  try {
    const rsp = await client.call(service, 'Greeter.Hello', { name });
    console.log(rsp.message);
  } catch (e) {
    console.error(e instanceof micro.MicroError ? `${e.code} ${e.id}: ${e.detail}` : e);
    process.exitCode = 1;
  }
}

main();
