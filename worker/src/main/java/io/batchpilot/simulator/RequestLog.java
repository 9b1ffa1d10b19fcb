package io.batchpilot.simulator;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/** Every request the simulator received, in arrival order; thread-safe. */
public final class RequestLog {

    private final List<RecordedRequest> entries = new ArrayList<>();

    synchronized void add(RecordedRequest request) {
        entries.add(request);
    }

    /** A snapshot, in arrival order. */
    public synchronized List<RecordedRequest> entries() {
        List<RecordedRequest> copy = new ArrayList<>(entries);
        copy.sort(Comparator.comparingLong(RecordedRequest::sequence));
        return copy;
    }

    public synchronized void clear() {
        entries.clear();
    }

    /**
     * For each (key, model), the most requests and input tokens in any window of this length, over
     * the requests that pass the filter. A window is half-open: (t - window, t].
     */
    public Map<String, WindowAudit> audit(Duration window, Predicate<RecordedRequest> filter) {
        Map<String, List<RecordedRequest>> groups = new LinkedHashMap<>();
        for (RecordedRequest r : entries()) {
            if (filter.test(r)) {
                groups.computeIfAbsent(groupKey(r.keyFingerprint(), r.model()), k -> new ArrayList<>()).add(r);
            }
        }
        long w = window.toNanos();
        Map<String, WindowAudit> result = new LinkedHashMap<>();
        for (Map.Entry<String, List<RecordedRequest>> group : groups.entrySet()) {
            List<RecordedRequest> rs = group.getValue();
            rs.sort(Comparator.comparingLong(RecordedRequest::arrivalNanos).thenComparingLong(RecordedRequest::sequence));
            long maxRequests = 0;
            long maxTokens = 0;
            long tokens = 0;
            long rateLimited = 0;
            int start = 0;
            for (int end = 0; end < rs.size(); end++) {
                RecordedRequest last = rs.get(end);
                tokens += last.inputTokens();
                while (rs.get(start).arrivalNanos() <= last.arrivalNanos() - w) {
                    tokens -= rs.get(start).inputTokens();
                    start++;
                }
                maxRequests = Math.max(maxRequests, end - start + 1);
                maxTokens = Math.max(maxTokens, tokens);
                if (last.outcome().equals("rate_limited")) {
                    rateLimited++;
                }
            }
            RecordedRequest first = rs.get(0);
            result.put(group.getKey(), new WindowAudit(first.keyFingerprint(), first.model(), maxRequests, maxTokens,
                    rs.size(), rateLimited));
        }
        return result;
    }

    public static String groupKey(String keyFingerprint, String model) {
        return keyFingerprint + "/" + model;
    }
}
