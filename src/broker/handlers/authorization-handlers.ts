import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { AuthorizationService as AuthorizationServiceDesc } from "../../../gen/nexus/broker/v1/authorization_service_pb.ts";
import type { HttpBody } from "../../../gen/google/api/httpbody_pb.ts";
import { type ErrorReason, NexusError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import type { CallbackService } from "../services/callback-service.ts";
import type { CaptureService } from "../services/capture-service.ts";
import { callerOf } from "./caller.ts";
import { pageSecurityHeaders, renderCapturePage, renderMessagePage } from "./capture-page.ts";

/** What the browser routes call. */
export interface AuthorizationHandlerDeps {
  readonly callbacks: CallbackService;
  readonly captures: CaptureService;
  readonly logger: Logger;
  /** The form's POST target, relative to BASE_URL. */
  readonly captureAction: string;
}

const titles: Partial<Record<ErrorReason | "state_replayed", string>> = {
  state_missing: "This link is incomplete",
  state_invalid: "This link is not valid",
  state_expired: "This link has expired",
  state_replayed: "This link was already used",
  provider_deleted: "This provider is no longer available",
  invalid_argument: "This sign-in response is malformed",
};

/**
 * The browser end of a handshake. These answer pages and 303 redirects (RFC
 * 9700: never 307 for responses that may carry credentials), with no-store,
 * no-referrer and a locked-down CSP; they never answer JSON to a user.
 */
export function createAuthorizationHandlers(deps: AuthorizationHandlerDeps): ServiceImpl<typeof AuthorizationServiceDesc> {
  function respond(ctx: HandlerContext, status: number, html: string, location?: string, formTarget?: string): { page: HttpBody } {
    for (const [name, value] of Object.entries(pageSecurityHeaders)) ctx.responseHeader.set(name, value);
    // Browsers apply form-action to the redirect that ends a form post, so the return URL's origin must be allowed too.
    if (formTarget !== undefined) ctx.responseHeader.set("content-security-policy", `${pageSecurityHeaders["content-security-policy"]} ${formTarget}`);
    ctx.responseHeader.set("x-http-code", String(status));
    if (location !== undefined) ctx.responseHeader.set("location", location);
    return { page: { $typeName: "google.api.HttpBody", contentType: "text/html; charset=utf-8", data: new TextEncoder().encode(html), extensions: [] } };
  }
  function failurePage(ctx: HandlerContext, error: unknown): { page: HttpBody } {
    if (error instanceof NexusError) {
      const status = error.reason === "provider_unavailable" || error.reason === "unavailable" ? 503 : 400;
      return respond(ctx, status, renderMessagePage({
        title: titles[error.reason] ?? "The connection could not be completed",
        message: `${error.message}. Go back to the application and start connecting again.`,
        reason: error.reason,
      }));
    }
    deps.logger.error("browser route failed: a fault in Nexus, the browser was shown an error page; report it with this line", { err: error });
    return respond(ctx, 500, renderMessagePage({ title: "Something went wrong", message: "Nexus could not finish this step. Try again later.", reason: "internal" }));
  }

  return {
    async callback(req, ctx) {
      try {
        const outcome = await deps.callbacks.complete(
          { code: req.code, state: req.state, error: req.error, errorDescription: req.errorDescription, iss: req.iss },
          ctx.signal,
        );
        if (outcome.kind === "redirect") {
          return respond(ctx, 303, renderMessagePage({
            title: outcome.ok ? "Connected" : "The connection failed",
            message: "Returning you to the application.",
            link: { href: outcome.url, text: "Continue" },
          }), outcome.url);
        }
        return respond(ctx, outcome.status, renderMessagePage({
          title: titles[outcome.reason] ?? "This link is not valid",
          message: "Nexus cannot use this sign-in response. Go back to the application and start connecting again.",
          reason: outcome.reason,
        }));
      } catch (error) {
        return failurePage(ctx, error);
      }
    },
    async capturePage(req, ctx) {
      try {
        const form = await deps.captures.form(req.state);
        return respond(ctx, 200, renderCapturePage({
          providerName: form.providerName, providerDescription: form.providerDescription, schema: form.schema,
          state: req.state, action: deps.captureAction,
        }), undefined, form.returnOrigin);
      } catch (error) {
        return failurePage(ctx, error);
      }
    },
    async submitCapture(req, ctx) {
      try {
        const result = await deps.captures.capture(req.state, req.credentials, callerOf(ctx), ctx.signal);
        return respond(ctx, 303, renderMessagePage({
          title: "Connected", message: "Returning you to the application.", link: { href: result.redirectUrl, text: "Continue" },
        }), result.redirectUrl);
      } catch (error) {
        // A typo or an unreachable provider: show the form again, the state is still good.
        if (error instanceof NexusError && (error.reason === "credential_invalid" || error.reason === "provider_unavailable")) {
          try {
            const form = await deps.captures.form(req.state);
            return respond(ctx, error.reason === "credential_invalid" ? 400 : 503, renderCapturePage({
              providerName: form.providerName, providerDescription: form.providerDescription, schema: form.schema,
              state: req.state, action: deps.captureAction, error: error.message,
            }), undefined, form.returnOrigin);
          } catch (again) {
            return failurePage(ctx, again);
          }
        }
        return failurePage(ctx, error);
      }
    },
  };
}
