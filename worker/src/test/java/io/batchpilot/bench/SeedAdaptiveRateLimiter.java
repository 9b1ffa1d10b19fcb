package io.batchpilot.bench;

import java.util.ArrayDeque;

/**
 * A line-by-line Java port of the seed's per-process {@code AdaptiveRateLimiter}
 * (phase3-batch-upload-optimization.md), kept here only as the benchmark's baseline. Its minute is
 * {@code windowMs} so it can run against the compressed simulator; its backoffs scale with it.
 * Its faults are kept on purpose: per-process state, a wall-clock minute mixed with a sliding
 * queue, reconciling against the last request instead of the finished one, no jitter.
 */
final class SeedAdaptiveRateLimiter {

  record Config(int maxConcurrentRequests, int requestsPerMinute, long tokensPerMinute, int burstAllowance,
      double backoffMultiplier, long maxBackoffMs, long windowMs) {}

  record Permission(boolean allowed, long delayMs) {}

  private record Sent(long timestamp, long[] tokens) {}

  private final Config config;
  private final ArrayDeque<Sent> requestQueue = new ArrayDeque<>();
  private int currentRequests;
  private long requestsInLastMinute;
  private long tokensInLastMinute;
  private long lastResetTime = System.currentTimeMillis();
  private int consecutiveErrors;
  private long currentBackoffMs;
  private long lastApiCall;

  SeedAdaptiveRateLimiter(Config config) {
    this.config = config;
  }

  synchronized Permission acquirePermission(long estimatedTokens) {
    long now = System.currentTimeMillis();
    cleanOldRequests(now);
    if (currentBackoffMs > 0) {
      long backoffRemaining = currentBackoffMs - (now - lastApiCall);
      if (backoffRemaining > 0) {
        return new Permission(false, backoffRemaining);
      }
      currentBackoffMs = 0;
    }
    if (currentRequests >= config.maxConcurrentRequests()) {
      return new Permission(false, config.windowMs() / 60);
    }
    boolean requestsCheck = requestsInLastMinute < config.requestsPerMinute();
    boolean tokensCheck = tokensInLastMinute + estimatedTokens <= config.tokensPerMinute();
    if (!requestsCheck || !tokensCheck) {
      return new Permission(false, config.windowMs() - (now % config.windowMs()));
    }
    long timeSinceLastCall = now - lastApiCall;
    double minInterval = (double) config.windowMs() / config.requestsPerMinute();
    if (timeSinceLastCall < minInterval && requestsInLastMinute > config.burstAllowance()) {
      return new Permission(false, (long) Math.ceil(minInterval - timeSinceLastCall));
    }
    currentRequests++;
    requestsInLastMinute++;
    tokensInLastMinute += estimatedTokens;
    requestQueue.addLast(new Sent(now, new long[] {estimatedTokens}));
    return new Permission(true, 0);
  }

  synchronized void recordSuccess(long actualTokens) {
    currentRequests--;
    consecutiveErrors = 0;
    lastApiCall = System.currentTimeMillis();
    Sent last = requestQueue.peekLast();
    if (last != null && actualTokens != last.tokens()[0]) {
      tokensInLastMinute += actualTokens - last.tokens()[0];
      last.tokens()[0] = actualTokens;
    }
  }

  synchronized void recordRateLimit() {
    currentRequests--;
    consecutiveErrors++;
    lastApiCall = System.currentTimeMillis();
    double scale = config.windowMs() / 60_000.0;
    currentBackoffMs = (long) Math.min(1000 * scale * Math.pow(config.backoffMultiplier(), consecutiveErrors),
        config.maxBackoffMs());
  }

  private void cleanOldRequests(long now) {
    long oneMinuteAgo = now - config.windowMs();
    while (!requestQueue.isEmpty() && requestQueue.peekFirst().timestamp() < oneMinuteAgo) {
      Sent old = requestQueue.pollFirst();
      requestsInLastMinute--;
      tokensInLastMinute -= old.tokens()[0];
    }
    if (now - lastResetTime > config.windowMs()) {
      requestsInLastMinute = requestQueue.size();
      tokensInLastMinute = requestQueue.stream().mapToLong(s -> s.tokens()[0]).sum();
      lastResetTime = now;
    }
  }
}
