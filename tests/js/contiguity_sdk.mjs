// Drives simgate with the official Contiguity JavaScript SDK (npm `contiguity`, pinned in
// package.json), unchanged. The SDK has no base-URL option, so `fetch` is wrapped to send its
// https://api.contiguity.com requests to simgate; its key must contain `contiguity_sk_`.
//
// Usage: node contiguity_sdk.mjs BASE_URL API_KEY PHONE
//
// Talks to tests/it/hooks_js_sdk.rs over stdin/stdout, one line each way:
//   -> "otp_id <id>"                  after otp.send; the test reads the code from the SMS
//   <- "<code>"                       for otp.verify (a wrong code first, then this one)
//   -> "reverse <otp_id> <to> <factor>"  after otp.reverse.initiate; the phone texts the factor
//   -> "reverse verified"             once otp.reverse.verify says so
//   <- {"body","header","secret"}     the otp.reverse.verified webhook simgate delivered
//   -> "webhook <ok> <tampered> <wrong secret>"  webhook.verify results
//   -> "cancelled <otp_id>"           after otp.reverse.cancel and a verify that shows it
//   -> "message_id <id>"              after text.send
//   -> "OK"                           everything passed (a failure throws: exit status 1)

import { createInterface } from "node:readline";
import assert from "node:assert/strict";
import { Contiguity } from "contiguity";

const [base, apiKey, phone] = process.argv.slice(2);
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init) =>
  realFetch(String(url).replace("https://api.contiguity.com", base), init);

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const readLine = async () => {
  const { value, done } = await lines.next();
  assert.ok(!done, "stdin closed");
  return value.trim();
};
const say = (line) => process.stdout.write(line + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const client = new Contiguity(apiKey);

// Standard OTP.
const sent = await client.otp.send({ to: phone, language: "en", name: "Acme" });
assert.match(sent.otp_id, /^otp_/);
assert.ok(sent.metadata.id, "the envelope's metadata");
say(`otp_id ${sent.otp_id}`);
const code = await readLine();
const wrongCode = code.replace(/\d$/, (d) => String((Number(d) + 1) % 10));
assert.equal((await client.otp.verify({ otp_id: sent.otp_id, otp: wrongCode })).verified, false);
assert.equal((await client.otp.verify({ otp_id: sent.otp_id, otp: code })).verified, true);

// Reverse OTP: the person texts the factor to our number.
const reverse = await client.otp.reverse.initiate({ number: phone, language: "en" });
assert.match(reverse.otp_id, /^r_otp_/);
assert.equal(reverse.number, phone);
say(`reverse ${reverse.otp_id} ${reverse.to} ${reverse.factor}`);
let status;
for (let i = 0; i < 200; i++) {
  status = await client.otp.reverse.verify(reverse.otp_id);
  if (status.verified) break;
  await sleep(100);
}
assert.equal(status.status, "verified");
assert.equal(status.verified, true);
say("reverse verified");

// The webhook simgate delivered for it, checked by the SDK's own verifier.
const delivered = JSON.parse(await readLine());
const ok = client.webhook.verify(delivered.body, delivered.header, delivered.secret);
const tampered = client.webhook.verify(delivered.body + " ", delivered.header, delivered.secret);
const wrongSecret = client.webhook.verify(delivered.body, delivered.header, delivered.secret + "x");
const event = client.webhook.parse(delivered.body);
assert.equal(event.type, "otp.reverse.verified");
say(`webhook ${ok} ${tampered} ${wrongSecret}`);

// Cancel.
const other = await client.otp.reverse.initiate({ number: phone });
const cancelled = await client.otp.reverse.cancel(other.otp_id);
assert.equal(cancelled.status, "cancelled");
assert.equal((await client.otp.reverse.verify(other.otp_id)).status, "cancelled");
say(`cancelled ${other.otp_id}`);

// A plain text.
const text = await client.text.send({ to: phone, message: "hello from the JS SDK" });
assert.match(text.message_id, /^msg_/);
say(`message_id ${text.message_id}`);
say("OK");
process.exit(0);
