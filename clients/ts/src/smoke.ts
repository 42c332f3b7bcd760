// A resident's journey with the typed client, against a running platform (the gateway's URL in
// TONGBAN_URL): log in, search the catalogue, apply for an item approved at once (秒批), wait for
// the case to complete, and find its licence in the wallet. Types come from the checked-in
// gateway OpenAPI (openapi/platform.json, `npm run generate`); a path, a field or a parameter the
// platform does not have fails `npm run build`, before anything runs.
//
//   TONGBAN_URL=http://127.0.0.1:8000 TONGBAN_USERNAME=citizen TONGBAN_PASSWORD=... \
//   TONGBAN_QUERY=优待证 TONGBAN_ITEM=442020000900 TONGBAN_FORM='{"service_years": 8}' npm run smoke
import { randomUUID } from "node:crypto";
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Case = components["schemas"]["cases.CaseRead"];

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
}

function fail(step: string, error: unknown): never {
  throw new Error(`${step}: ${JSON.stringify(error)}`);
}

const baseUrl = env("TONGBAN_URL");
const client = createClient<paths>({ baseUrl });
const timings: Record<string, number> = {};

async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await run();
  timings[name] = Math.round(performance.now() - started);
  return result;
}

// 1. Log in (OAuth2 password grant at the gateway): a bearer token for every later call.
const token = await step("login", async () => {
  const { data, error } = await client.POST("/auth/token", {
    body: { grant_type: "password", username: env("TONGBAN_USERNAME"), password: env("TONGBAN_PASSWORD") },
    bodySerializer: (body) => new URLSearchParams(body as Record<string, string>).toString(),
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  if (error || !data) fail("login", error);
  return data;
});
const bearer: Middleware = {
  onRequest({ request }) {
    request.headers.set("Authorization", `Bearer ${token.access_token}`);
    return request;
  },
};
client.use(bearer);

// 2. Search the catalogue (public) and find the item.
const basicCode = env("TONGBAN_ITEM");
const found = await step("search", async () => {
  const { data, error } = await client.GET("/api/v1/catalog/search", {
    params: { query: { q: env("TONGBAN_QUERY"), limit: 20 } },
  });
  if (error || !data) fail("search", error);
  const hit = data.items.find((item) => item.basic_code === basicCode);
  if (!hit) fail("search", `no ${basicCode} among ${data.items.map((i) => i.basic_code).join(", ")}`);
  return hit;
});

// 3. Apply: an item approved at once is `approved` on the answer.
const applied: Case = await step("apply", async () => {
  const { data, error } = await client.POST("/api/v1/cases/cases", {
    body: { basic_code: found.basic_code, form_data: JSON.parse(env("TONGBAN_FORM", "{}")) },
    headers: { "Idempotency-Key": randomUUID() },
  });
  if (error || !data) fail("apply", error);
  return data;
});

// 4. The case completes once its licence is issued; the licence is in the wallet.
const completed: Case = await step("case completed", async () => {
  for (let i = 0; i < 200; i++) {
    const { data, error } = await client.GET("/api/v1/cases/cases/{case_id}", {
      params: { path: { case_id: applied.id } },
    });
    if (error || !data) fail("case status", error);
    if (data.licence_identifier) return data;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  fail("case status", `case ${applied.id} has no licence after 20 s`);
});
const licence = await step("wallet", async () => {
  const { data, error } = await client.GET("/api/v1/credentials/me/licences", { params: { query: { limit: 50 } } });
  if (error || !data) fail("wallet", error);
  const mine = data.items.find((l) => l.identifier === completed.licence_identifier);
  if (!mine) fail("wallet", `no licence ${completed.licence_identifier} in the wallet`);
  return mine;
});

console.log(JSON.stringify({
  item: { basic_code: found.basic_code, name: found.name },
  case: { id: completed.id, state: completed.state, applied_state: applied.state },
  licence: { identifier: licence.identifier, type_code: licence.type_code, status: licence.status },
  milliseconds: timings,
}));
