package io.batchpilot.gemini;

/**
 * Characters per text token, learned from what Gemini reports: starts at Google's "about 4
 * characters a token" and moves toward each observed ratio (an exponential moving average), so
 * the pre-call estimate of a fixed prompt converges on the real count after a few calls.
 */
final class TextTokenRatio {
    // Weight of one observation: fast enough to converge in a handful of calls, slow enough that
    // one odd text does not swing the estimate.
    private static final double WEIGHT = 0.3;
    private static final double MIN = 1.0;
    private static final double MAX = 12.0;

    private double charsPerToken = TokenCounter.DEFAULT_CHARS_PER_TOKEN;

    synchronized double charsPerToken() {
        return charsPerToken;
    }

    /** Records that {@code characters} code points of text cost {@code tokens} tokens. */
    synchronized void observe(long characters, long tokens) {
        if (characters <= 0 || tokens <= 0) {
            return;
        }
        double observed = Math.max(MIN, Math.min(MAX, (double) characters / tokens));
        charsPerToken += WEIGHT * (observed - charsPerToken);
    }

    @Override
    public synchronized String toString() {
        return "TextTokenRatio[charsPerToken=" + charsPerToken + "]";
    }
}
