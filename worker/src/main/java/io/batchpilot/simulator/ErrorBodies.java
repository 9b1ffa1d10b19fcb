package io.batchpilot.simulator;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.List;

/** Google's error bodies, shaped like the captured ones in the gemini fixtures. */
final class ErrorBodies {

    static final String RATE_LIMIT_DOCS = "https://ai.google.dev/gemini-api/docs/rate-limits";

    private ErrorBodies() {
    }

    static ObjectNode error(int code, String status, String message) {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode error = root.putObject("error");
        error.put("code", code);
        error.put("message", message);
        error.put("status", status);
        return root;
    }

    static ObjectNode overloaded() {
        return error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.");
    }

    static ObjectNode internal() {
        return error(500, "INTERNAL", "An internal error has occurred. Please retry or report in "
                + "https://developers.generativeai.google/guide/troubleshooting");
    }

    static ObjectNode deadlineExceeded() {
        return error(504, "DEADLINE_EXCEEDED", "The service is unable to finish processing within the deadline.");
    }

    static ObjectNode invalidArgument(String message) {
        return error(400, "INVALID_ARGUMENT", message);
    }

    static ObjectNode apiKeyInvalid() {
        String message = "API key not valid. Please pass a valid API key.";
        ObjectNode root = error(400, "INVALID_ARGUMENT", message);
        ArrayNode details = ((ObjectNode) root.get("error")).putArray("details");
        ObjectNode info = details.addObject();
        info.put("@type", "type.googleapis.com/google.rpc.ErrorInfo");
        info.put("reason", "API_KEY_INVALID");
        info.put("domain", "googleapis.com");
        info.putObject("metadata").put("service", "generativelanguage.googleapis.com");
        ObjectNode localized = details.addObject();
        localized.put("@type", "type.googleapis.com/google.rpc.LocalizedMessage");
        localized.put("locale", "en-US");
        localized.put("message", message);
        return root;
    }

    static ObjectNode unauthenticated() {
        return error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established "
                + "identity). Please use API Key or other form of API consumer identity to call this API.");
    }

    static ObjectNode modelNotFound(String model, String method) {
        return error(404, "NOT_FOUND", "models/" + model + " is not found for API version v1beta, or is not supported for "
                + method + ". Call ListModels to see the list of available models and their supported methods.");
    }

    static ObjectNode notFound(String path) {
        return error(404, "NOT_FOUND", "Requested entity was not found: " + path);
    }

    static ObjectNode fileNotAccessible(String fileId) {
        return error(403, "PERMISSION_DENIED", "You do not have permission to access the File " + fileId
                + " or it may not exist.");
    }

    /**
     * 429 RESOURCE_EXHAUSTED: Help, QuotaFailure with one violation per exceeded quota, RetryInfo.
     * Like Google, the retryDelay is whole seconds, truncated ("20.7s" becomes "20s"); the message
     * carries the exact value.
     */
    static ObjectNode quotaExceeded(String model, List<QuotaViolation> violations, boolean freeTier, Duration retryDelay) {
        StringBuilder message = new StringBuilder("You exceeded your current quota, please check your plan and billing "
                + "details. For more information on this error, head to: " + RATE_LIMIT_DOCS
                + ". To monitor your current usage, head to: https://ai.dev/rate-limit. ");
        for (QuotaViolation v : violations) {
            message.append("\n* Quota exceeded for metric: ").append(v.quotaMetric(freeTier)).append(", limit: ")
                    .append(v.limit()).append(", model: ").append(model);
        }
        String exact = BigDecimal.valueOf(retryDelay.toNanos(), 9).stripTrailingZeros().toPlainString();
        message.append("\nPlease retry in ").append(exact).append("s.");

        ObjectNode root = error(429, "RESOURCE_EXHAUSTED", message.toString());
        ArrayNode details = ((ObjectNode) root.get("error")).putArray("details");
        ObjectNode help = details.addObject();
        help.put("@type", "type.googleapis.com/google.rpc.Help");
        ObjectNode link = help.putArray("links").addObject();
        link.put("description", "Learn more about Gemini API quotas");
        link.put("url", RATE_LIMIT_DOCS);
        ObjectNode failure = details.addObject();
        failure.put("@type", "type.googleapis.com/google.rpc.QuotaFailure");
        ArrayNode list = failure.putArray("violations");
        for (QuotaViolation v : violations) {
            ObjectNode n = list.addObject();
            n.put("quotaMetric", v.quotaMetric(freeTier));
            n.put("quotaId", v.quotaId(freeTier));
            ObjectNode dims = n.putObject("quotaDimensions");
            dims.put("model", model);
            dims.put("location", "global");
            n.put("quotaValue", Long.toString(v.limit()));
        }
        ObjectNode retry = details.addObject();
        retry.put("@type", "type.googleapis.com/google.rpc.RetryInfo");
        retry.put("retryDelay", retryDelay.toSeconds() + "s");
        return root;
    }

    /**
     * 429 for a batch job over the project's batch quota (concurrent jobs or enqueued tokens), as
     * captured from Google (langchain4j PR #3942, 2026-01-12): the quota message and the Help link
     * only, with no QuotaFailure naming the quota and no RetryInfo.
     */
    static ObjectNode batchQuotaExceeded() {
        ObjectNode root = error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and "
                + "billing details. For more information on this error, head to: " + RATE_LIMIT_DOCS
                + ". To monitor your current usage, head to: https://ai.dev/rate-limit. ");
        ObjectNode help = ((ObjectNode) root.get("error")).putArray("details").addObject();
        help.put("@type", "type.googleapis.com/google.rpc.Help");
        ObjectNode link = help.putArray("links").addObject();
        link.put("description", "Learn more about Gemini API quotas");
        link.put("url", RATE_LIMIT_DOCS);
        return root;
    }
}
