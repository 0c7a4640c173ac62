// ESM entry: `import micro from 'micro'` or `import { Service, Client } from 'micro'`.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const micro = require('./index.js');

export const { Service, Client, ClientStream, ServerStream, Registry, Reply, MicroError, encode, decode, onLog, version, native } = micro;
export default micro;
