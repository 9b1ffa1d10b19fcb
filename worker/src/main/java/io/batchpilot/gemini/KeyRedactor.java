package io.batchpilot.gemini;

/**
 * Removes the API key from any text that leaves the client (exception messages built from what
 * the server or the network stack said), in case a server or proxy echoes it back.
 */
final class KeyRedactor {
    static final String REDACTED = "<redacted>";

    private final String key;

    KeyRedactor(String key) {
        this.key = key;
    }

    String redact(String text) {
        return text == null ? null : text.replace(key, REDACTED);
    }

    @Override
    public String toString() {
        return "KeyRedactor[" + REDACTED + "]";
    }
}
