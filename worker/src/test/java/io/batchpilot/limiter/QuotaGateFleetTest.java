package io.batchpilot.limiter;

import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.DatabaseUrl;
import io.batchpilot.db.testing.PostgresExtension;
import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.simulator.GeminiSimulator;
import io.batchpilot.simulator.LatencyDistribution;
import io.batchpilot.simulator.ModelLimits;
import io.batchpilot.simulator.RecordedRequest;
import io.batchpilot.simulator.SimulatorConfig;
import io.batchpilot.simulator.WindowAudit;
import io.batchpilot.store.Jooq;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Three worker JVMs with several threads each share one quota through the gate, against the
 * simulator enforcing a strict sliding window compressed to 16 s: no 429, no window over the
 * limits, and the binding limit (requests) used at 95% or more in steady state. Use is at most
 * window / (window + margin + bucket) = 96.2% here, and the margin must cover the spread between
 * grant and arrival, which each member prints (grant_to_send_ms).
 */
@ExtendWith(PostgresExtension.class)
class QuotaGateFleetTest {

  private static final String MODEL = "gemini-fleet-test";
  private static final Duration WINDOW = Duration.ofSeconds(16);
  private static final int REQUESTS_PER_WINDOW = 400;
  /** Sizes are 100..1100 tokens (600 on average): requests bind, tokens run at about two thirds. */
  private static final long TOKENS_PER_WINDOW = 360_000;
  private static final int BUCKETS_PER_WINDOW = 400;
  /**
   * Covers the grant-to-arrival spread: grant to send p99 5-15 ms on a quiet 2-core machine, 40-90
   * ms at load average 15-30 (docs/BENCHMARKS.md at 2b995c9), plus the simulator's own queueing before it
   * stamps an arrival. 300 ms (with an 8 s window) passed alone three times, then saw 4 429s in a
   * full build, with grant to send under 90 ms: the simulator, in the build's JVM, stamped some
   * arrivals over 200 ms late. 600 ms held until 2026-11-29, then failed 3 of 3 runs on this machine
   * on 2026-12-02 (1 to 15 429s, grant to send up to 140-250 ms), the untouched build of 1d2f1d3 that
   * had passed that morning included; 1000 ms: no 429 and 102% use in the same conditions.
   */
  private static final int SAFETY_MARGIN_MS = 1000;
  private static final int JVMS = 3;
  private static final int THREADS_PER_JVM = 6;
  private static final Duration RUN = Duration.ofSeconds(80);
  /** What the issue asks of the gate: the binding limit used at 95% or more in steady state. */
  private static final double REQUIRED_USE = 0.95;

  @Test
  void threeJvmsShareTheQuotaWithNo429AndUseAtLeast95PercentOfIt(TestDatabase db) throws Exception {
    Jooq.using(db.dataSource()).insertInto(QUOTA_LIMITS)
        .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, MODEL)
        .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, REQUESTS_PER_WINDOW)
        .set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, TOKENS_PER_WINDOW)
        .set(QUOTA_LIMITS.MAX_IN_FLIGHT, 64)
        .set(QUOTA_LIMITS.WINDOW_MS, (int) WINDOW.toMillis())
        .set(QUOTA_LIMITS.BUCKETS_PER_WINDOW, BUCKETS_PER_WINDOW)
        .set(QUOTA_LIMITS.SAFETY_MARGIN_MS, SAFETY_MARGIN_MS)
        .execute();
    SimulatorConfig config = SimulatorConfig.defaults().withWindow(WINDOW)
        .withModelLimits(MODEL, new ModelLimits(REQUESTS_PER_WINDOW, TOKENS_PER_WINDOW, 0))
        .withApiKeys(Set.of(QuotaGateFleetMember.API_KEY))
        .withLatency(LatencyDistribution.uniform(Duration.ofMillis(10), Duration.ofMillis(60)));

    try (GeminiSimulator simulator = GeminiSimulator.start(config)) {
      List<Process> members = new ArrayList<>();
      List<BufferedReader> outputs = new ArrayList<>();
      for (int i = 0; i < JVMS; i++) {
        Process member = new ProcessBuilder(java(), "-cp", System.getProperty("java.class.path"),
            QuotaGateFleetMember.class.getName(), urlOf(db.url()), simulator.baseUrl(), MODEL,
            String.valueOf(THREADS_PER_JVM), String.valueOf(i + 1))
            .redirectErrorStream(true).start();
        members.add(member);
        outputs.add(new BufferedReader(new InputStreamReader(member.getInputStream(), StandardCharsets.UTF_8)));
      }
      for (BufferedReader output : outputs) {
        StringBuilder before = new StringBuilder();
        for (String line = output.readLine(); !"ready".equals(line); line = output.readLine()) {
          if (line == null) {
            throw new AssertionError("a fleet member exited before it was ready:\n" + before);
          }
          before.append(line).append('\n');
        }
      }
      long end = System.currentTimeMillis() + RUN.toMillis();
      for (Process member : members) {
        member.getOutputStream().write((end + "\n").getBytes(StandardCharsets.US_ASCII));
        member.getOutputStream().flush();
      }
      List<String> reports = new ArrayList<>();
      for (int i = 0; i < JVMS; i++) {
        Process member = members.get(i);
        String out = outputs.get(i).lines().collect(java.util.stream.Collectors.joining("\n"));
        assertTrue(member.waitFor(RUN.toSeconds() + 60, TimeUnit.SECONDS), "a fleet member did not stop");
        assertEquals(0, member.exitValue(), out);
        reports.add(out.lines().filter(l -> l.startsWith("granted=")).findFirst().orElseThrow(() -> new AssertionError(out)));
      }

      List<RecordedRequest> sent = simulator.requests().stream()
          .filter(r -> r.metered() && r.model().equals(MODEL)).toList();
      long rateLimited = sent.stream().filter(r -> r.status() == 429).count();
      WindowAudit audit = simulator.audit().values().stream().filter(a -> a.model().equals(MODEL)).findFirst()
          .orElseThrow(() -> new AssertionError("nothing reached the simulator: " + reports));
      double utilisation = steadyStateUtilisation(sent, Instant.ofEpochMilli(end));
      String summary = "members " + reports + ", audit " + audit + ", steady-state utilisation " + utilisation;
      System.out.println(summary);

      assertTrue(reports.stream().allMatch(r -> !r.startsWith("granted=0 ")), "every JVM sent requests: " + summary);
      assertEquals(0, rateLimited, summary);
      assertTrue(audit.maxRequestsInWindow() <= REQUESTS_PER_WINDOW, summary);
      assertTrue(audit.maxInputTokensInWindow() <= TOKENS_PER_WINDOW, summary);
      // Use of the limit is the gate's to prove only when the fleet offered more than the limit in
      // steady state; on a machine too loaded to do so the check is reported as not run.
      long refused = reports.stream().mapToLong(r -> Long.parseLong(r.replaceAll(".* refused=(\\d+).*", "$1"))).sum();
      long steadyWindows = RUN.dividedBy(WINDOW) - 3;
      Assumptions.assumeTrue(refused >= steadyWindows * JVMS * THREADS_PER_JVM,
          "the fleet did not saturate the limit (the gate refused only " + refused + " times): " + summary);
      assertTrue(utilisation >= REQUIRED_USE, summary + ", required " + REQUIRED_USE);
    }
  }

  /**
   * Requests that arrived between two windows after the first arrival and one window before the
   * end, against what the limit allows in that time.
   */
  private static double steadyStateUtilisation(List<RecordedRequest> sent, Instant end) {
    Instant from = sent.get(0).arrival().plus(WINDOW.multipliedBy(2));
    Instant to = end.minus(WINDOW);
    long arrived = sent.stream().filter(r -> !r.arrival().isBefore(from) && r.arrival().isBefore(to)).count();
    double allowed = REQUESTS_PER_WINDOW * (Duration.between(from, to).toMillis() / (double) WINDOW.toMillis());
    return arrived / allowed;
  }

  private static String urlOf(DatabaseUrl url) {
    return url.withCredentials();
  }

  private static String java() {
    return System.getProperty("java.home") + "/bin/java";
  }
}
