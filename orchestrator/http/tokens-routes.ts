/**
 * Admin token management: list (no values), create (the token is in this answer only), revoke.
 */
import { z } from "zod";
import type { TokenStore } from "../auth/token-store.ts";
import { ApiError } from "./api-error.ts";
import { errors, json, route, type ApiRoute } from "./api-route.ts";

export type TokenRoutesDeps = Pick<TokenStore, "create" | "list" | "revoke">;

const NAME_RULE = "a name of 1 to 100 characters is required";
const CreateToken = z.object({ name: z.string({ error: NAME_RULE }).trim().min(1, NAME_RULE).max(100, NAME_RULE) });

export function tokenRoutes(tokens: TokenRoutesDeps): ApiRoute[] {
  return [
    route({
      method: "get",
      path: "/v1/tokens",
      access: "admin",
      tag: "tokens",
      summary: "admin tokens: id, name, creation and revocation times (never their values)",
      responses: { 200: json("the tokens"), ...errors({ 401: "no live admin token" }) },
      handler: async (c) => c.json({ tokens: await tokens.list() }),
    }),
    route({
      method: "post",
      path: "/v1/tokens",
      access: "admin",
      tag: "tokens",
      summary: "create an admin token `{name}`: `201 {id, name, token}`, the only time the token is shown",
      body: CreateToken,
      responses: { 201: json("the new token"), ...errors({ 400: "bad JSON or name", 401: "no live admin token" }) },
      handler: async (c, { body }) => c.json(await tokens.create(body.name), 201),
    }),
    route({
      method: "delete",
      path: "/v1/tokens/{id}",
      access: "admin",
      tag: "tokens",
      summary: "revoke a token (`404` when it is unknown or already revoked)",
      responses: { 200: json("revoked"), ...errors({ 401: "no live admin token", 404: "no live token with that id" }) },
      handler: async (c) => {
        const id = c.req.param("id")!;
        if (!(await tokens.revoke(id))) throw new ApiError(404, "not_found", `no live token ${id}`);
        return c.json({ id, revoked: true });
      },
    }),
  ];
}
