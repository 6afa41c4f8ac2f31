#!/usr/bin/env node
// An independent DSSE v1 verifier for firedrill's interoperability tests: the pre-authentication
// encoding and the signature check are Sigstore's own (@sigstore/core, installed by ci/setup into
// tests/interop/node_modules), over Node's crypto; nothing is taken from firedrill.
//
//   node sigstore_verify.js ENVELOPE PUBLIC_KEY.pem [--artifacts DIR]
//     exit 0 when a signature verifies, the payload type is in-toto's and the payload an in-toto
//     Statement v1 (with --artifacts, every subject's SHA-256 matches the file of that name under
//     DIR); exit 1 otherwise, saying why.
'use strict';
const fs = require('fs');
const path = require('path');
const { crypto, dsse } = require('@sigstore/core');

const PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';

function fail(message) {
  console.log(message);
  process.exit(1);
}

// DSSE lets a signer use the standard or the URL-safe alphabet, padded or not.
function base64Decode(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) throw new Error('not base64');
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function main(argv) {
  const artifactsAt = argv.indexOf('--artifacts');
  const artifacts = artifactsAt >= 0 ? argv[artifactsAt + 1] : null;
  const [envelopeFile, keyFile] = argv.filter((_, i) => artifactsAt < 0 || (i !== artifactsAt && i !== artifactsAt + 1));
  if (!envelopeFile || !keyFile) fail('usage: sigstore_verify.js ENVELOPE PUBLIC_KEY.pem [--artifacts DIR]');

  const key = crypto.createPublicKey(fs.readFileSync(keyFile, 'utf8'));
  const envelope = JSON.parse(fs.readFileSync(envelopeFile, 'utf8'));
  let payload;
  try {
    payload = base64Decode(envelope.payload);
  } catch (error) {
    fail(`not a DSSE envelope: ${error.message}`);
  }
  if (typeof envelope.payloadType !== 'string' || !Array.isArray(envelope.signatures)) fail('not a DSSE envelope');
  const message = dsse.preAuthEncoding(envelope.payloadType, payload);
  // Ed25519 takes no digest; ECDSA P-256 signs SHA-256 of the message, DER-encoded.
  const algorithm = key.asymmetricKeyType === 'ec' ? 'sha256' : undefined;
  const verified = envelope.signatures.some((signature) => {
    try {
      return crypto.verify(message, key, base64Decode(signature.sig), algorithm);
    } catch (error) {
      return false;
    }
  });
  if (!verified) fail('no signature verifies with the key');
  if (envelope.payloadType !== PAYLOAD_TYPE) fail(`payload type ${envelope.payloadType}`);
  const statement = JSON.parse(payload.toString('utf8'));  // the verified bytes only
  if (statement._type !== STATEMENT_TYPE) fail(`statement type ${statement._type}`);
  let checked = 0;
  if (artifacts) {
    for (const subject of statement.subject) {
      let actual;
      try {
        actual = crypto.digest('sha256', fs.readFileSync(path.join(artifacts, subject.name))).toString('hex');
      } catch (error) {
        fail(`subject ${subject.name} missing`);
      }
      if (actual !== subject.digest.sha256) fail(`subject ${subject.name} changed`);
      checked += 1;
    }
  }
  const keyid = crypto.digest('sha256', key.export({ type: 'spki', format: 'der' })).toString('hex');
  console.log(`sigstore verified ${statement.predicateType} with key ${keyid}; ${checked} subjects checked`);
}

main(process.argv.slice(2));
