// Independent verification of credbridge's documents with libraries credbridge did not write:
// Digital Bazaar's @digitalbazaar/vc + data-integrity + eddsa-rdfc-2022 (Data Integrity), jsonld.js in
// safe mode (expansion), jose (VC-JWT), @digitalbazaar/vc-bitstring-status-list (status), ajv with the
// 1EdTech OB 3.0 JSON Schema, rdf-canonize (RDFC-1.0 canonical N-Quads).
//
// Offline: JSON-LD contexts come from contexts.json only; DID documents and status lists come from the
// job's "resources" or, for hosts the job names in "httpHosts" (127.0.0.1 in tests), over plain HTTP.
// Nothing else is fetched.
//
// Usage: node verify.mjs JOB.json  -> prints {"results": [...]} on stdout.
// JOB: {"now"?: ISO date, "resources"?: {DID or URL: document or JWT}, "httpHosts"?: [host],
//       "items": [{"name", "format": "ob3-di"|"ob3-jwt"|"jsonld"|"status-list"|"canonize", "document"}]}
// Each result: {"name", "format", "verified", "checks": {check: {"ok", "error"?}}, "nquads"? (canonize)}.

import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as vc from '@digitalbazaar/vc';
import {checkStatus as bitstringCheckStatus} from '@digitalbazaar/vc-bitstring-status-list';
import * as jose from 'jose';
import jsonld from 'jsonld';
import * as rdfCanonize from 'rdf-canonize';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const OB3_SCHEMA = 'tests/data/standards/ob3/schema/ob_v3p0_achievementcredential_schema.json';
// registered JWT claims OB 3.0 §8.2 adds to the credential in a VC-JWT payload
const JWT_CLAIMS = ['iss', 'jti', 'nbf', 'sub', 'exp', 'iat', 'aud'];

async function loadContexts() {
  const manifest = JSON.parse(await readFile(path.join(HERE, 'contexts.json'), 'utf8'));
  const contexts = new Map();
  for(const [url, where] of Object.entries(manifest)) {
    if(url.startsWith('_')) {
      continue;
    }
    const file = where.npm ? path.join(HERE, 'node_modules', where.npm) : path.join(REPO, where.file);
    contexts.set(url, JSON.parse(await readFile(file, 'utf8')));
  }
  return contexts;
}

function didWebUrl(did, httpHosts) {
  const [authority, ...segments] = did.slice('did:web:'.length).split(':');
  const host = decodeURIComponent(authority);
  const hostname = host.split(':')[0];
  // did:web is HTTPS by definition; plain HTTP only for the test hosts the job names
  const scheme = httpHosts.includes(hostname) ? 'http' : 'https';
  const where = segments.length ? segments.map(decodeURIComponent).join('/') : '.well-known';
  return `${scheme}://${host}/${where}/did.json`;
}

class Resolver {
  constructor({contexts, resources = {}, httpHosts = []}) {
    this.contexts = contexts;
    this.resources = resources;
    this.httpHosts = httpHosts;
    this.fetched = new Map();
  }

  async fetchText(url) {
    const {hostname} = new URL(url);
    if(!this.httpHosts.includes(hostname)) {
      throw new Error(`offline verifier: will not fetch ${url}`);
    }
    if(!this.fetched.has(url)) {
      const response = await fetch(url);
      if(!response.ok) {
        throw new Error(`GET ${url}: HTTP ${response.status}`);
      }
      this.fetched.set(url, await response.text());
    }
    return this.fetched.get(url);
  }

  async didDocument(did) {
    if(did in this.resources) {
      return structuredClone(this.resources[did]);
    }
    if(!did.startsWith('did:web:')) {
      throw new Error(`cannot resolve ${did}`);
    }
    const document = JSON.parse(await this.fetchText(didWebUrl(did, this.httpHosts)));
    if(document.id !== did) {
      throw new Error(`DID document id ${document.id} is not ${did}`);
    }
    return document;
  }

  async verificationMethod(url) {
    const [did] = url.split('#');
    const document = await this.didDocument(did);
    const method = (document.verificationMethod || []).find(m => m.id === url);
    if(!method) {
      throw new Error(`${url} is not a verification method of ${did}`);
    }
    return {document, method};
  }

  // jsonld.js / jsonld-signatures document loader
  loader() {
    return async url => {
      if(this.contexts.has(url)) {
        return {contextUrl: null, documentUrl: url, document: structuredClone(this.contexts.get(url))};
      }
      if(url.startsWith('did:')) {
        if(!url.includes('#')) {
          return {contextUrl: null, documentUrl: url, document: await this.didDocument(url)};
        }
        const {document, method} = await this.verificationMethod(url);
        return {contextUrl: null, documentUrl: url, document: {'@context': document['@context'], ...method}};
      }
      if(url in this.resources || url.startsWith('http')) {
        // a status list credential: verified here, handed over as the credential it carries
        return {contextUrl: null, documentUrl: url, document: await this.statusListCredential(url)};
      }
      throw new Error(`offline verifier: will not load ${url}`);
    };
  }

  async statusListCredential(url) {
    const raw = url in this.resources ? this.resources[url] : await this.fetchText(url);
    const text = typeof raw === 'string' ? raw.trim() : null;
    if(text && !text.startsWith('{')) {
      const {credential, checks} = await verifyJwt(text, this, {});
      const failed = Object.entries(checks).filter(([, c]) => !c.ok);
      if(failed.length) {
        throw new Error(`status list ${url}: ${failed.map(([k, c]) => `${k}: ${c.error}`).join('; ')}`);
      }
      return credential;
    }
    const credential = typeof raw === 'string' ? JSON.parse(raw) : structuredClone(raw);
    const result = await vc.verifyCredential({credential, suite: suite(), documentLoader: this.loader()});
    if(!result.verified) {
      throw new Error(`status list ${url}: ${errorText(result)}`);
    }
    return credential;
  }
}

function suite() {
  return new DataIntegrityProof({cryptosuite: eddsaRdfc2022});
}

function errorText(result) {
  const errors = [];
  const collect = error => {
    if(!error) {
      return;
    }
    if(Array.isArray(error)) {
      error.forEach(collect);
    } else {
      errors.push(describe(error));
      if(error.errors) {
        collect(error.errors);
      }
    }
  };
  collect(result.error);
  for(const r of result.results || []) {
    collect(r.error);
  }
  if(result.statusResult && !result.statusResult.verified) {
    collect(result.statusResult.error);
  }
  return [...new Set(errors)].join('; ') || 'not verified';
}

function describe(error) {
  // jsonld.js puts what safe mode objected to (the event code and the term or IRI) in details
  const event = error.details && error.details.event;
  const found = [];
  for(let e = error; e; e = e.cause || (e.details && e.details.cause)) {
    const ev = e.details && e.details.event;
    if(ev) {
      found.push(`${ev.code}: ${JSON.stringify(ev.details)}`);
    }
  }
  const message = error.message || String(error);
  return found.length && !event ? `${message} (${found.join('; ')})` :
    event ? `${message} (${event.code}: ${JSON.stringify(event.details)})` : message;
}

async function check(checks, name, fn) {
  try {
    const detail = await fn();
    checks[name] = {ok: true, ...(detail ? {detail} : {})};
  } catch(error) {
    checks[name] = {ok: false, error: describe(error)};
  }
}

async function expandSafely(document, resolver) {
  // safe mode: an undefined term or a relative IRI is an error, not a silently dropped statement
  const expanded = await jsonld.expand(document, {documentLoader: resolver.loader(), safe: true, base: null});
  if(!expanded.length) {
    throw new Error('expands to nothing');
  }
}

function statusChecker(resolver) {
  return async options => {
    const result = await bitstringCheckStatus({
      ...options, documentLoader: resolver.loader(), suite: suite(),
      verifyBitstringStatusListCredential: false, // verified by the loader (JWT or Data Integrity)
      verifyMatchingIssuers: true
    });
    if(result.verified && result.results.some(r => r.status === true)) {
      return {...result, verified: false, error: new Error('revoked: the status list has the bit set')};
    }
    return result;
  };
}

async function checkStatusOf(credential, resolver) {
  const result = await statusChecker(resolver)({credential});
  if(!result.verified) {
    throw new Error(errorText({error: result.error, results: result.results}));
  }
}

async function verifyJwt(token, resolver, {now}) {
  const checks = {};
  let credential = null;
  let payload = null;
  await check(checks, 'jwt', async () => {
    const header = jose.decodeProtectedHeader(token);
    const extra = Object.keys(header).filter(k => !['alg', 'kid', 'typ'].includes(k));
    if(extra.length) {
      throw new Error(`JOSE header has ${extra.join(', ')} (OB 3.0 allows alg, kid, typ)`);
    }
    if(header.typ !== 'JWT') {
      throw new Error(`typ is ${header.typ}, not JWT`);
    }
    if(!header.kid) {
      throw new Error('no kid');
    }
    const {document, method} = await resolver.verificationMethod(header.kid);
    const assertion = (document.assertionMethod || []).map(m => (typeof m === 'string' ? m : m.id));
    if(!assertion.includes(header.kid)) {
      throw new Error(`${header.kid} is not an assertionMethod of ${document.id}`);
    }
    const key = await Ed25519Multikey.from(method);
    const jwk = await Ed25519Multikey.toJwk({keyPair: key});
    const verified = await jose.jwtVerify(token, await jose.importJWK(jwk, 'EdDSA'), {
      algorithms: ['EdDSA'], typ: 'JWT', ...(now ? {currentDate: new Date(now)} : {})
    });
    payload = verified.payload;
    if(payload.iss !== header.kid.split('#')[0]) {
      throw new Error(`iss ${payload.iss} is not the key's controller`);
    }
    credential = Object.fromEntries(Object.entries(payload).filter(([k]) => !JWT_CLAIMS.includes(k)));
  });
  if(credential) {
    await check(checks, 'claims', () => {
      const issuer = typeof credential.issuer === 'object' ? credential.issuer.id : credential.issuer;
      const subject = [].concat(credential.credentialSubject || [])[0] || {};
      const wants = [['iss', issuer], ['jti', credential.id], ['sub', subject.id],
        ['nbf', credential.validFrom && Date.parse(credential.validFrom) / 1000],
        ['exp', credential.validUntil && Date.parse(credential.validUntil) / 1000]];
      for(const [claim, expected] of wants) {
        if(expected !== undefined && payload[claim] !== expected) {
          throw new Error(`${claim} is ${payload[claim]}, the credential says ${expected}`);
        }
      }
    });
  }
  return {credential, checks};
}

async function verifyItem(item, ctx) {
  const {resolver, validateOb3, now} = ctx;
  const checks = {};
  const result = {name: item.name, format: item.format, checks};
  // JSON text is parsed here; a VC-JWT and a status list URL stay strings
  const document = typeof item.document === 'string' && item.document.trim().startsWith('{') ?
    JSON.parse(item.document) : item.document;
  if(item.format === 'ob3-di') {
    await check(checks, 'jsonld-safe', () => expandSafely(document, resolver));
    await check(checks, 'ob3-schema', () => schema(validateOb3, document));
    await check(checks, 'data-integrity', async () => {
      const verified = await vc.verifyCredential({
        credential: document, suite: suite(), documentLoader: resolver.loader(),
        checkStatus: async () => ({verified: true}), ...(now ? {now} : {})
      });
      if(!verified.verified) {
        throw new Error(errorText(verified));
      }
    });
    await check(checks, 'status', () => checkStatusOf(document, resolver));
  } else if(item.format === 'ob3-jwt') {
    const {credential, checks: jwtChecks} = await verifyJwt(document, resolver, {now});
    Object.assign(checks, jwtChecks);
    if(credential) {
      await check(checks, 'jsonld-safe', () => expandSafely(credential, resolver));
      await check(checks, 'ob3-schema', () => schema(validateOb3, credential));
      await check(checks, 'data-model', () => vc._checkCredential({credential, ...(now ? {now} : {})}));
      await check(checks, 'status', () => checkStatusOf(credential, resolver));
    }
  } else if(item.format === 'status-list') {
    await check(checks, 'status-list', async () => {
      const url = typeof document === 'string' ? document : document.id;
      const credential = await resolver.statusListCredential(url);
      await expandSafely(credential, resolver);
    });
  } else if(item.format === 'jsonld') {
    await check(checks, 'jsonld-safe', () => expandSafely(document, resolver));
  } else if(item.format === 'canonize') {
    await check(checks, 'canonize', async () => {
      const dataset = await jsonld.toRDF(document, {
        documentLoader: resolver.loader(), safe: true, base: null, rdfDirection: 'i18n-datatype'
      });
      result.nquads = await rdfCanonize.canonize(dataset, {algorithm: 'RDFC-1.0', format: 'application/n-quads'});
    });
  } else {
    checks.format = {ok: false, error: `unknown format ${item.format}`};
  }
  result.verified = Object.keys(checks).length > 0 && Object.values(checks).every(c => c.ok);
  return result;
}

function schema(validate, document) {
  if(!validate(document)) {
    throw new Error(validate.errors.map(e => `${e.instancePath || '/'} ${e.message}`).join('; '));
  }
}

async function main() {
  const job = JSON.parse(await readFile(process.argv[2], 'utf8'));
  const contexts = await loadContexts();
  const resolver = new Resolver({contexts, resources: job.resources, httpHosts: job.httpHosts});
  const ajv = new Ajv2019({allErrors: true, strict: false});
  addFormats(ajv);
  const validateOb3 = ajv.compile(JSON.parse(await readFile(path.join(REPO, OB3_SCHEMA), 'utf8')));
  const results = [];
  for(const item of job.items) {
    results.push(await verifyItem(item, {resolver, validateOb3, now: job.now}));
  }
  process.stdout.write(JSON.stringify({results}) + '\n');
}

main().catch(error => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(2);
});
