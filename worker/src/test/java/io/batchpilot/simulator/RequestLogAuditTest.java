package io.batchpilot.simulator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class RequestLogAuditTest {

    private static RecordedRequest at(long seq, long nanos, long tokens) {
        return new RecordedRequest(seq, nanos, Instant.EPOCH, "fp", "m", "generateContent", tokens, 200, "ok", true);
    }

    @Test
    void requestsExactlyOneWindowApartAreNeverInTheSameWindow() {
        RequestLog log = new RequestLog();
        log.add(at(0, 0, 10));
        log.add(at(1, 1000, 10));
        log.add(at(2, 1999, 10));
        log.add(at(3, 2000, 10));
        WindowAudit a = log.audit(Duration.ofNanos(1000), r -> true).values().iterator().next();
        assertEquals(2, a.maxRequestsInWindow());
        assertEquals(20, a.maxInputTokensInWindow());
    }

    @Test
    void auditAgreesWithABruteForceCount() {
        Random random = new Random(3);
        for (int round = 0; round < 50; round++) {
            RequestLog log = new RequestLog();
            List<RecordedRequest> all = new ArrayList<>();
            long t = 0;
            for (int i = 0; i < 200; i++) {
                t += random.nextInt(50);
                RecordedRequest r = at(i, t, random.nextInt(100));
                all.add(r);
                log.add(r);
            }
            long window = 100 + random.nextInt(400);
            long maxRequests = 0;
            long maxTokens = 0;
            for (RecordedRequest end : all) {
                long count = 0;
                long tokens = 0;
                for (RecordedRequest r : all) {
                    if (r.arrivalNanos() > end.arrivalNanos() - window && r.arrivalNanos() <= end.arrivalNanos()) {
                        count++;
                        tokens += r.inputTokens();
                    }
                }
                maxRequests = Math.max(maxRequests, count);
                maxTokens = Math.max(maxTokens, tokens);
            }
            WindowAudit a = log.audit(Duration.ofNanos(window), r -> true).values().iterator().next();
            assertEquals(maxRequests, a.maxRequestsInWindow());
            assertEquals(maxTokens, a.maxInputTokensInWindow());
        }
    }
}
