// The main flows of the Svix API through the official `svix` npm SDK, against this platform.
//
// Run by tests/svix/test_node_sdk.py: SVIX_SERVER_URL (the live server), SVIX_TOKEN (a platform
// API key) and RECEIVER_URL (the test receiver's /ok URL) come from the environment. Progress and
// failures go to stderr; on success one JSON object goes to stdout with what the Python side
// verifies (ids, secrets, the exact bodies published, counts). Any failed check exits 1.

import { randomBytes, webcrypto } from "node:crypto";
import { isDeepStrictEqual } from "node:util";

import { ApiException, Svix } from "svix";

// The SDK makes idempotency keys with the global `crypto`, which Node 18 does not expose.
globalThis.crypto ??= webcrypto;

class CheckFailed extends Error {}

function env(name) {
  const value = process.env[name];
  if (!value) throw new CheckFailed(`environment variable ${name} is not set`);
  return value;
}

const show = (value) => JSON.stringify(value);

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

function equal(actual, expected, what) {
  check(
    isDeepStrictEqual(actual, expected),
    `${what}: expected ${show(expected)}, got ${show(actual)}`,
  );
}

let currentStep = "start";

async function step(name, body) {
  currentStep = name;
  process.stderr.write(`- ${name}\n`);
  return await body();
}

function describeError(error) {
  if (error instanceof ApiException) {
    return `ApiException ${error.code}: ${show(error.body)}`;
  }
  const cause = error?.cause ? `\ncaused by: ${error.cause?.stack ?? error.cause}` : "";
  return `${error?.stack ?? error}${cause}`;
}

/** The ApiException `call` must throw, with HTTP status `code`. */
async function expectApiError(code, what, call) {
  currentStep = what;
  process.stderr.write(`- ${what} (expects ApiException ${code})\n`);
  let result;
  try {
    result = await call();
  } catch (error) {
    check(
      error instanceof ApiException && error.code === code,
      `${what}: expected ApiException ${code}, got ${describeError(error)}`,
    );
    return error;
  }
  throw new CheckFailed(`${what}: expected ApiException ${code}, but it returned ${show(result)}`);
}

/** Poll `read` until `done(value)`; the last value in the message if it never is. */
async function waitFor(what, read, done, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) {
      throw new CheckFailed(
        `timed out after ${timeoutMs} ms waiting for ${what}; last: ${show(value)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}

function endpointFields(endpoint) {
  const { id, uid, url, description, filterTypes, channels, metadata, throttleRate, disabled } =
    endpoint;
  return { id, uid, url, description, filterTypes, channels, metadata, throttleRate, disabled };
}

async function main() {
  const serverUrl = env("SVIX_SERVER_URL");
  const token = env("SVIX_TOKEN");
  const receiverUrl = env("RECEIVER_URL");
  // No retries: a 5xx must fail at once, not be retried into a pass.
  const svix = new Svix(token, { serverUrl, retryScheduleInMs: [], requestTimeout: 15_000 });

  // --- application ---------------------------------------------------------------------------
  const appUid = "node-sdk-app";
  const app = await step("application getOrCreate (creates)", () =>
    svix.application.getOrCreate({ name: "Node SDK app", uid: appUid, metadata: { sdk: "node" } }),
  );
  check(/^app_[0-9A-Za-z]{27}$/.test(app.id), `application id ${show(app.id)} is not app_ + 27`);
  equal(app.uid, appUid, "application uid");
  equal(app.metadata, { sdk: "node" }, "application metadata");
  const again = await step("application getOrCreate (gets)", () =>
    svix.application.getOrCreate({ name: "Another name", uid: appUid }),
  );
  equal(again.id, app.id, "getOrCreate with the same uid: application id");
  equal(again.name, "Node SDK app", "getOrCreate with the same uid: the stored name");
  const byUid = await step("application get by uid", () => svix.application.get(appUid));
  equal(byUid.id, app.id, "application got by uid: id");

  // --- null in optional fields (what the SDK's own tests send for what is unset) ---------------
  const nullApp = await step("application create with null optional fields", () =>
    svix.application.create({ name: "Node nulls", uid: null, metadata: null, throttleRate: null }),
  );
  equal(nullApp.metadata, {}, "application created with null metadata: metadata");
  // Its messages go to another path than /ok, whose arrivals the test counts: whether the one
  // below arrives before the application is deleted is a race the count must not see.
  const nullsUrl = new URL("/status/200", receiverUrl).href;
  const nullEndpoint = await step("endpoint create with null optional fields", () =>
    svix.endpoint.create(nullApp.id, {
      url: nullsUrl,
      uid: null,
      description: null,
      disabled: null,
      filterTypes: null,
      channels: null,
      metadata: null,
      throttleRate: null,
      secret: null,
      headers: null,
    }),
  );
  equal(nullEndpoint.metadata, {}, "endpoint created with null metadata: metadata");
  equal(nullEndpoint.description, "", "endpoint created with null description: description");
  await step("message create with null optional fields", () =>
    svix.message.create(nullApp.id, {
      eventType: "node.nulls",
      payload: { ok: true },
      eventId: null,
      channels: null,
      tags: null,
      application: null,
      deliverAt: null,
      payloadRetentionPeriod: null,
    }),
  );

  // --- event types ---------------------------------------------------------------------------
  const paidType = "node.invoice.paid";
  const voidedType = "node.invoice.voided";
  const schemas = {
    1: {
      type: "object",
      title: "Invoice paid",
      properties: {
        invoice: { type: "string" },
        amount: { type: "integer" },
        customer: { type: "object" },
        lines: { type: "array" },
      },
      required: ["invoice", "amount"],
      examples: [{ invoice: "inv_example", amount: 1 }],
    },
  };
  const eventType = await step("eventType create with schemas", () =>
    svix.eventType.create({ name: paidType, description: "An invoice was paid.", schemas }),
  );
  equal(eventType.name, paidType, "event type name");
  equal(eventType.description, "An invoice was paid.", "event type description");
  equal(eventType.schemas, schemas, "event type schemas");
  const gotType = await step("eventType get", () => svix.eventType.get(paidType));
  equal(gotType.schemas, schemas, "event type got: schemas");
  await step("eventType create (no schema)", () =>
    svix.eventType.create({ name: voidedType, description: "An invoice was voided." }),
  );

  // --- endpoint ------------------------------------------------------------------------------
  const customSecret = `whsec_${randomBytes(32).toString("base64")}`;
  const endpointUid = "node-sdk-endpoint";
  const created = await step("endpoint create with optional fields", () =>
    svix.endpoint.create(app.id, {
      url: receiverUrl,
      uid: endpointUid,
      description: "Created by the Node SDK",
      filterTypes: [paidType],
      channels: ["billing"],
      metadata: { team: "payments", sdk: "node" },
      throttleRate: 50,
      secret: customSecret,
    }),
  );
  check(/^ep_[0-9A-Za-z]{27}$/.test(created.id), `endpoint id ${show(created.id)} is not ep_ + 27`);
  equal(
    endpointFields(created),
    {
      id: created.id,
      uid: endpointUid,
      url: receiverUrl,
      description: "Created by the Node SDK",
      filterTypes: [paidType],
      channels: ["billing"],
      metadata: { team: "payments", sdk: "node" },
      throttleRate: 50,
      disabled: false,
    },
    "endpoint created",
  );
  const endpointId = created.id;
  const got = await step("endpoint get by id", () => svix.endpoint.get(app.id, endpointId));
  equal(endpointFields(got), endpointFields(created), "endpoint got by id");
  const gotByUid = await step("endpoint get by uid", () => svix.endpoint.get(app.id, endpointUid));
  equal(gotByUid.id, endpointId, "endpoint got by uid: id");

  const updated = await step("endpoint update (PUT)", () =>
    svix.endpoint.update(app.id, endpointId, {
      url: receiverUrl,
      uid: endpointUid,
      description: "Updated by the Node SDK",
      filterTypes: [paidType],
      channels: ["billing"],
      metadata: { team: "payments", sdk: "node", stage: "put" },
      throttleRate: 60,
    }),
  );
  equal(updated.id, endpointId, "endpoint updated: id");
  equal(updated.description, "Updated by the Node SDK", "endpoint updated: description");
  equal(
    updated.metadata,
    { team: "payments", sdk: "node", stage: "put" },
    "endpoint updated: metadata",
  );
  equal(updated.throttleRate, 60, "endpoint updated: throttleRate");

  const patched = await step("endpoint patch", () =>
    svix.endpoint.patch(app.id, endpointId, {
      description: "Patched by the Node SDK",
      metadata: { team: "payments", sdk: "node", stage: "patch" },
    }),
  );
  const finalEndpoint = {
    id: endpointId,
    uid: endpointUid,
    url: receiverUrl,
    description: "Patched by the Node SDK",
    filterTypes: [paidType],
    channels: ["billing"],
    metadata: { team: "payments", sdk: "node", stage: "patch" },
    throttleRate: 60,
    disabled: false,
  };
  equal(endpointFields(patched), finalEndpoint, "endpoint patched (fields not in the patch kept)");
  equal(
    endpointFields(await svix.endpoint.get(app.id, endpointId)),
    finalEndpoint,
    "endpoint got after the patch",
  );

  // --- secret --------------------------------------------------------------------------------
  const secret = await step("endpoint getSecret", () =>
    svix.endpoint.getSecret(app.id, endpointId),
  );
  equal(secret.key, customSecret, "endpoint secret (the custom one given at create)");
  const rotated = await step("endpoint rotateSecret", () =>
    svix.endpoint.rotateSecret(app.id, endpointId),
  );
  check(rotated == null, `rotateSecret returns nothing in this SDK; got ${show(rotated)}`);
  const newSecret = (await svix.endpoint.getSecret(app.id, endpointId)).key;
  check(
    /^whsec_[A-Za-z0-9+/]+={0,2}$/.test(newSecret),
    `rotated secret ${show(newSecret)} is not whsec_ + base64`,
  );
  check(newSecret !== customSecret, "the secret did not change on rotateSecret");

  // --- headers -------------------------------------------------------------------------------
  const extraHeaders = { "X-Node-Sdk": "flows", "X-Api-Key": "node-header-secret" };
  await step("endpoint updateHeaders", () =>
    svix.endpoint.updateHeaders(app.id, endpointId, { headers: extraHeaders }),
  );
  const headers = await step("endpoint getHeaders", () =>
    svix.endpoint.getHeaders(app.id, endpointId),
  );
  equal(headers.headers, { "X-Node-Sdk": "flows" }, "endpoint headers (a sensitive one is hidden)");
  equal(
    headers.sensitive.map((name) => name.toLowerCase()),
    ["x-api-key"],
    "endpoint headers: sensitive names",
  );

  // --- messages ------------------------------------------------------------------------------
  const eventId = "node-evt-1";
  const payloads = {
    m1: {
      invoice: "inv_1",
      amount: 1250,
      customer: { name: "Zoë Ünïcode ✓", email: "zoe@example.com", vip: true, note: null },
      lines: [{ sku: "a/b", qty: 2, price: 12.5 }, "text with \"quotes\" and \\ slash", -1],
    },
    m2: { invoice: "inv_2", amount: 20, customer: { zip: "00123" } },
    m3: { invoice: "inv_3", reason: "voided: another type, filtered out by filterTypes" },
    m4: { invoice: "inv_4", amount: 40, note: "another channel, filtered out by channels" },
  };
  const specs = {
    m1: { eventType: paidType, eventId, channels: ["billing"], payload: payloads.m1 },
    m2: { eventType: paidType, channels: ["billing"], payload: payloads.m2 },
    m3: { eventType: voidedType, channels: ["billing"], payload: payloads.m3 },
    m4: { eventType: paidType, channels: ["shipping"], payload: payloads.m4 },
  };
  const messages = {};
  for (const [name, spec] of Object.entries(specs)) {
    const msg = await step(`message create ${name}`, () => svix.message.create(app.id, spec));
    check(
      /^msg_[0-9A-Za-z]{27}$/.test(msg.id),
      `${name}: message id ${show(msg.id)} is not msg_ + 27`,
    );
    equal(msg.eventType, spec.eventType, `${name}: eventType`);
    equal(msg.channels, spec.channels, `${name}: channels`);
    equal(msg.eventId ?? null, spec.eventId ?? null, `${name}: eventId`);
    messages[name] = msg;
  }
  const duplicate = await expectApiError(409, "message create with a repeated eventId", () =>
    svix.message.create(app.id, specs.m1),
  );
  equal(duplicate.body?.code, "conflict", "409 body code");

  const m1 = await step("message get", () => svix.message.get(app.id, messages.m1.id));
  equal(m1.id, messages.m1.id, "message got: id");
  equal(m1.eventId, eventId, "message got: eventId");
  equal(m1.eventType, paidType, "message got: eventType");
  equal(m1.payload, payloads.m1, "message got: payload");
  const m1ByEventId = await step("message get by eventId", () => svix.message.get(app.id, eventId));
  equal(m1ByEventId.id, messages.m1.id, "message got by eventId: id");

  const pages = await step("message list, limit 1, page by page", async () => {
    const seen = [];
    let iterator = null;
    for (let n = 1; n <= 20; n++) {
      const page = await svix.message.list(app.id, { limit: 1, iterator });
      check(page.data.length <= 1, `page ${n} has ${page.data.length} items with limit 1`);
      seen.push(page.data.map((m) => m.id));
      if (page.done) return seen;
      check(page.iterator, `page ${n} is not done but has no iterator: ${show(page)}`);
      iterator = page.iterator;
    }
    throw new CheckFailed(`message list was not done after 20 pages: ${show(seen)}`);
  });
  const listed = pages.flat();
  const createdIds = Object.values(messages).map((m) => m.id);
  check(pages.length > 1, `message list took ${pages.length} page(s); expected more than one`);
  equal(listed.length, new Set(listed).size, "message list: no id twice across pages");
  equal([...listed].sort(), [...createdIds].sort(), "message list: every message once");
  equal(listed, [...createdIds].reverse(), "message list: newest first");

  // --- attempts ------------------------------------------------------------------------------
  const delivered = [messages.m1.id, messages.m2.id];
  const byEndpoint = await step("attempts listByEndpoint (until both deliveries)", () =>
    waitFor(
      "an attempt for m1 and m2 at the endpoint",
      () => svix.messageAttempt.listByEndpoint(app.id, endpointId),
      (page) => page.data.length >= 2,
    ),
  );
  equal(
    byEndpoint.data.map((a) => a.msgId).sort(),
    [...delivered].sort(),
    "attempts by endpoint: messages (filterTypes and channels keep m3 and m4 away)",
  );
  for (const attempt of byEndpoint.data) {
    check(/^atmpt_/.test(attempt.id), `attempt id ${show(attempt.id)}`);
    equal(attempt.endpointId, endpointId, "attempt endpointId");
    equal(attempt.url, receiverUrl, "attempt url");
    equal(attempt.responseStatusCode, 200, "attempt responseStatusCode");
    equal(attempt.status, 0, "attempt status (0: success)");
    equal(attempt.triggerType, 0, "attempt triggerType (0: scheduled)");
  }
  const byMsg = await step("attempts listByMsg", () =>
    svix.messageAttempt.listByMsg(app.id, messages.m1.id),
  );
  equal(byMsg.data.length, 1, "attempts of m1 before the resend");
  equal(byMsg.data[0].msgId, messages.m1.id, "attempt of m1: msgId");
  for (const name of ["m3", "m4"]) {
    const none = await svix.messageAttempt.listByMsg(app.id, messages[name].id);
    equal(none.data, [], `attempts of ${name} (filtered out)`);
  }

  await step("messageAttempt resend m1", () =>
    svix.messageAttempt.resend(app.id, messages.m1.id, endpointId),
  );
  const afterResend = await step("attempts listByMsg after the resend", () =>
    waitFor(
      "a second attempt of m1",
      () => svix.messageAttempt.listByMsg(app.id, messages.m1.id),
      (page) => page.data.length >= 2 && page.data.every((a) => a.status === 0),
    ),
  );
  equal(afterResend.data.length, 2, "attempts of m1 after the resend");
  equal(
    afterResend.data.map((a) => a.triggerType).sort(),
    [0, 1],
    "attempts of m1: triggerType (0 scheduled, 1 manual)",
  );

  const stats = await step("endpoint getStats", () =>
    waitFor(
      "stats of two delivered messages",
      () => svix.endpoint.getStats(app.id, endpointId),
      (s) => s.success === 2 && s.pending === 0 && s.sending === 0,
    ),
  );
  equal(stats, { success: 2, pending: 0, sending: 0, fail: 0, canceled: 0 }, "endpoint stats");

  const recover = await step("endpoint recover", () =>
    svix.endpoint.recover(app.id, endpointId, { since: new Date(Date.now() - 3_600_000) }),
  );
  check(/^qtask_/.test(recover.id), `recover task id ${show(recover.id)}`);
  equal(recover.task, "endpoint.recover", "recover task");
  check(
    ["running", "finished"].includes(recover.status),
    `recover status ${show(recover.status)}`,
  );
  check(!Number.isNaN(recover.updatedAt.getTime()), `recover updatedAt ${show(recover.updatedAt)}`);

  // --- app portal ----------------------------------------------------------------------------
  const portal = await step("authentication appPortalAccess", () =>
    svix.authentication.appPortalAccess(app.id, {}),
  );
  check(
    typeof portal.token === "string" && portal.token.length > 0,
    `portal token ${show(portal)}`,
  );
  check(/^https?:\/\//.test(portal.url), `portal url ${show(portal.url)} is not absolute`);
  const portalPage = await step("open the portal url", () =>
    fetch(portal.url, { redirect: "manual" }),
  );
  check(portalPage.status < 400, `GET ${portal.url} answered ${portalPage.status}`);

  // --- errors --------------------------------------------------------------------------------
  const missing = await expectApiError(404, "application get of an unknown app", () =>
    svix.application.get("app_nodeSdkNoSuchApplication0"),
  );
  equal(missing.body?.code, "not_found", "404 body code");
  const invalid = await expectApiError(422, "endpoint create with a bad url", () =>
    svix.endpoint.create(app.id, { url: "not a url" }),
  );
  check(
    Array.isArray(invalid.body?.detail) && invalid.body.detail.length > 0,
    `422 body is not {detail: [...]}: ${show(invalid.body)}`,
  );
  check(
    invalid.body.detail.some((e) => isDeepStrictEqual(e.loc, ["body", "url"])),
    `422 detail names no loc ["body", "url"]: ${show(invalid.body)}`,
  );
  await expectApiError(404, "endpoint get of an unknown endpoint", () =>
    svix.endpoint.get(app.id, "ep_nodeSdkNoSuchEndpoint00000"),
  );

  const bodies = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [name, JSON.stringify(spec.payload)]),
  );
  // Deleted last, once its message's fan-out is long done: deleting an application while a
  // fan-out is creating deliveries for its endpoints is a known race (a foreign-key error).
  await step("application delete (nulls)", () => svix.application.delete(nullApp.id));
  return {
    appId: app.id,
    appUid,
    eventTypes: [paidType, voidedType],
    endpoint: finalEndpoint,
    headers: extraHeaders,
    secrets: { custom: customSecret, current: newSecret },
    messages: Object.fromEntries(
      Object.entries(messages).map(([name, msg]) => [
        name,
        {
          id: msg.id,
          eventId: specs[name].eventId ?? null,
          eventType: specs[name].eventType,
          channels: specs[name].channels,
          payload: specs[name].payload,
          body: bodies[name],
        },
      ]),
    ),
    delivered: { [messages.m1.id]: 2, [messages.m2.id]: 1 },
    notDelivered: [messages.m3.id, messages.m4.id],
    pages,
    attempts: { byEndpoint: byEndpoint.data.length, m1AfterResend: afterResend.data.length },
    stats,
    recover: { id: recover.id, status: recover.status },
    portal: { url: portal.url },
  };
}

try {
  const summary = await main();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} catch (error) {
  const reason = error instanceof CheckFailed ? error.message : describeError(error);
  process.stderr.write(`FAILED at step "${currentStep}": ${reason}\n`);
  process.exitCode = 1;
}
