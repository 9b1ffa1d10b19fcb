package io.batchpilot.gemini;

/**
 * A Gemini batch job's state ({@code metadata.state}): the REST API says {@code BATCH_STATE_*}, the
 * SDKs and the guide's examples say {@code JOB_STATE_*}; both are read.
 */
public enum BatchState {
    PENDING(false),
    RUNNING(false),
    SUCCEEDED(true),
    FAILED(true),
    CANCELLED(true),
    EXPIRED(true),
    /** Missing or a name this client does not know: treated as not finished, so it is asked again. */
    UNSPECIFIED(false);

    private final boolean terminal;

    BatchState(boolean terminal) {
        this.terminal = terminal;
    }

    /** Whether the job has ended: its state will not change again. */
    public boolean terminal() {
        return terminal;
    }

    /** The REST name, e.g. {@code BATCH_STATE_RUNNING}. */
    public String wireName() {
        return "BATCH_STATE_" + name();
    }

    public static BatchState parse(String text) {
        String name = text == null ? "" : text.replaceFirst("^(BATCH|JOB)_STATE_", "");
        for (BatchState s : values()) {
            if (s.name().equals(name)) {
                return s;
            }
        }
        return UNSPECIFIED;
    }
}
