package io.batchpilot.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchpilot.gemini.Usage;
import io.batchpilot.limiter.Permit;
import java.time.Duration;
import java.time.Instant;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * The JSON each kind of outcome hands to {@code batchpilot_private.complete_files}, key by key: the
 * contract documented at the top of that function, pinned so that a change of the Java types cannot
 * change what the SQL reads.
 */
class CompleterJsonTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final UUID FILE = UUID.fromString("00000000-0000-0000-0000-00000000000f");
  private static final UUID EARLIER = UUID.fromString("00000000-0000-0000-0000-0000000000e1");
  private static final Permit PERMIT = new Permit(UUID.fromString("00000000-0000-0000-0000-0000000000aa"), "gemini",
      "gemini-2.5-flash", 300, Instant.parse("2026-01-01T00:00:00Z"));
  private static final ClaimedFile CLAIMED = new ClaimedFile(FILE, UUID.randomUUID(), null, "r.png", "image/png", 10L,
      null, null, "file:///r.png", null, 2, 3, "gemini", "gemini-2.5-flash", "balanced", null, null, "w1");
  private static final Usage USAGE = new Usage(300, 50, 438, 0, 788);
  private static final byte[] SHA = new byte[] {1, 2, (byte) 0xff};

  private static String json(Outcome o) {
    return Completer.toJson(o).toString();
  }

  private static String expected(String body) {
    return "{\"id\":\"" + FILE + "\",\"claimed_by\":\"w1\",\"attempts\":2," + body + "}";
  }

  @Test
  void aCompletionCarriesItsResultReceiptTokensHashAndPermit() throws Exception {
    ObjectNode result = (ObjectNode) JSON.readTree("{\"merchant\":\"ACME\"}");
    assertEquals(expected("\"status\":\"completed\",\"counts_attempt\":true,\"retry_delay_ms\":0,"
            + "\"result\":{\"merchant\":\"ACME\"},\"receipt\":{\"merchant\":\"ACME\"},\"error_type\":null,"
            + "\"error_message\":null,\"duration_ms\":120,\"input_tokens\":300,\"output_tokens\":50,"
            + "\"thinking_tokens\":438,\"tokens_used\":788,\"api_calls\":1,\"rate_limited\":false,\"session_error\":null,"
            + "\"session_failed\":false,\"content_sha256\":\"0102ff\",\"permit_id\":\"" + PERMIT.id() + "\""),
        json(Outcome.completed(CLAIMED, result, result, USAGE).withDurationMs(120).withContentSha256(SHA)
            .withCall(new CallPermit(PERMIT, 300L))));
    assertEquals(expected("\"status\":\"completed\",\"counts_attempt\":true,\"retry_delay_ms\":0,"
            + "\"result\":{\"merchant\":\"ACME\"},\"error_type\":null,\"error_message\":null,\"duration_ms\":0,"
            + "\"input_tokens\":258,\"output_tokens\":40,\"thinking_tokens\":0,\"tokens_used\":298,\"api_calls\":2,"
            + "\"rate_limited\":false,\"session_error\":null,\"session_failed\":false"),
        json(Outcome.completed(CLAIMED, result, null, 258, 40, 298, 2)));
  }

  @Test
  void aDuplicateNamesTheEarlierFileAndCostsNothing() throws Exception {
    ObjectNode result = (ObjectNode) JSON.readTree("{\"merchant\":\"ACME\"}");
    assertEquals(expected("\"status\":\"completed\",\"counts_attempt\":true,\"retry_delay_ms\":0,"
            + "\"result\":{\"merchant\":\"ACME\"},\"receipt\":{\"merchant\":\"ACME\"},\"duplicate_of\":\"" + EARLIER + "\","
            + "\"error_type\":null,\"error_message\":null,\"duration_ms\":0,\"input_tokens\":null,\"output_tokens\":null,"
            + "\"thinking_tokens\":null,\"tokens_used\":0,\"api_calls\":0,\"rate_limited\":false,\"session_error\":null,"
            + "\"session_failed\":false,\"content_sha256\":\"0102ff\""),
        json(Outcome.duplicate(CLAIMED, EARLIER, result, result).withContentSha256(SHA)));
  }

  @Test
  void aRetrySpendsAnAttemptAndCarriesItsDelayAndBilledTokens() {
    assertEquals(expected("\"status\":\"pending\",\"counts_attempt\":true,\"retry_delay_ms\":1500,"
            + "\"error_type\":\"malformed_response\",\"error_message\":\"cut off\",\"duration_ms\":0,\"input_tokens\":300,"
            + "\"output_tokens\":50,\"thinking_tokens\":438,\"tokens_used\":788,\"api_calls\":1,\"rate_limited\":false,"
            + "\"session_error\":null,\"session_failed\":false,\"permit_id\":\"" + PERMIT.id() + "\""),
        json(Outcome.retry(CLAIMED, "malformed_response", "cut off", Duration.ofMillis(1500), 1).withBilledUsage(USAGE)
            .withCall(new CallPermit(PERMIT, 300L))));
    assertEquals(expected("\"status\":\"pending\",\"counts_attempt\":true,\"retry_delay_ms\":0,"
            + "\"error_type\":\"timeout\",\"error_message\":\"the worker stopped\",\"duration_ms\":0,\"input_tokens\":null,"
            + "\"output_tokens\":null,\"thinking_tokens\":null,\"tokens_used\":0,\"api_calls\":0,\"rate_limited\":false,"
            + "\"session_error\":null,\"session_failed\":false"),
        json(Outcome.interrupted(CLAIMED, "the worker stopped")));
  }

  @Test
  void aRateLimitedCallGivesItsAttemptBackAndCountsAHit() {
    assertEquals(expected("\"status\":\"pending\",\"counts_attempt\":false,\"retry_delay_ms\":20000,"
            + "\"error_type\":\"rate_limited\",\"error_message\":\"429\",\"duration_ms\":0,\"input_tokens\":null,"
            + "\"output_tokens\":null,\"thinking_tokens\":null,\"tokens_used\":0,\"api_calls\":1,\"rate_limited\":true,"
            + "\"session_error\":null,\"session_failed\":false,\"permit_id\":\"" + PERMIT.id() + "\""),
        json(Outcome.rateLimited(CLAIMED, "rate_limited", "429", Duration.ofSeconds(20))
            .withCall(new CallPermit(PERMIT, null))));
  }

  @Test
  void aFailureFailsTheFile() {
    assertEquals(expected("\"status\":\"failed\",\"counts_attempt\":true,\"retry_delay_ms\":0,"
            + "\"error_type\":\"invalid_file\",\"error_message\":\"empty\",\"duration_ms\":0,\"input_tokens\":null,"
            + "\"output_tokens\":null,\"thinking_tokens\":null,\"tokens_used\":0,\"api_calls\":0,\"rate_limited\":false,"
            + "\"session_error\":null,\"session_failed\":false"),
        json(Outcome.failed(CLAIMED, "invalid_file", "empty", 0)));
  }

  @Test
  void aSpentDailyQuotaWaitsForTheResetAndTellsTheSession() {
    assertEquals(expected("\"status\":\"pending\",\"counts_attempt\":false,\"retry_delay_ms\":10800000,"
            + "\"error_type\":\"quota_exhausted\",\"error_message\":\"spent\",\"duration_ms\":0,\"input_tokens\":null,"
            + "\"output_tokens\":null,\"thinking_tokens\":null,\"tokens_used\":0,\"api_calls\":1,\"rate_limited\":true,"
            + "\"session_error\":\"spent\",\"session_failed\":false"),
        json(Outcome.waitForQuota(CLAIMED, Duration.ofHours(3), "spent", 1)));
  }

  @Test
  void aRefusedKeyStopsTheSession() {
    assertEquals(expected("\"status\":\"pending\",\"counts_attempt\":false,\"retry_delay_ms\":0,"
            + "\"error_type\":\"permission_denied\",\"error_message\":\"set GEMINI_API_KEY\",\"duration_ms\":0,"
            + "\"input_tokens\":null,\"output_tokens\":null,\"thinking_tokens\":null,\"tokens_used\":0,\"api_calls\":1,"
            + "\"rate_limited\":false,\"session_error\":\"set GEMINI_API_KEY\",\"session_failed\":true"),
        json(Outcome.stopSession(CLAIMED, "permission_denied", "set GEMINI_API_KEY", 1)));
  }

  @Test
  void releasesDeferralsAndRequeuesGiveTheAttemptBack() {
    assertEquals(expected("\"status\":\"pending\",\"counts_attempt\":false,\"retry_delay_ms\":0,"
            + "\"error_type\":null,\"error_message\":null,\"duration_ms\":0,\"input_tokens\":null,"
            + "\"output_tokens\":null,\"thinking_tokens\":null,\"tokens_used\":0,\"api_calls\":0,\"rate_limited\":false,"
            + "\"session_error\":null,\"session_failed\":false"),
        json(Outcome.released(CLAIMED)));
    assertEquals(expected("\"status\":\"pending\",\"counts_attempt\":false,\"retry_delay_ms\":5000,"
            + "\"error_type\":null,\"error_message\":\"waiting 5 s\",\"duration_ms\":0,\"input_tokens\":null,"
            + "\"output_tokens\":null,\"thinking_tokens\":null,\"tokens_used\":0,\"api_calls\":0,\"rate_limited\":false,"
            + "\"session_error\":null,\"session_failed\":false,\"content_sha256\":\"0102ff\""),
        json(Outcome.deferred(CLAIMED, Duration.ofSeconds(5), "waiting 5 s").withContentSha256(SHA)));
    assertEquals(expected("\"status\":\"pending\",\"counts_attempt\":false,\"retry_delay_ms\":0,"
            + "\"error_type\":\"batch_job_expired\",\"error_message\":\"expired\",\"duration_ms\":0,\"input_tokens\":null,"
            + "\"output_tokens\":null,\"thinking_tokens\":null,\"tokens_used\":0,\"api_calls\":0,\"rate_limited\":false,"
            + "\"session_error\":null,\"session_failed\":false"),
        json(Outcome.requeued(CLAIMED, "batch_job_expired", "expired")));
  }
}
