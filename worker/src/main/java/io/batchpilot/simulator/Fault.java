package io.batchpilot.simulator;

/** A failure the simulator injects into an admitted request, at a configured rate. */
public enum Fault {
    /** 503 UNAVAILABLE "The model is overloaded." (Google's body). */
    OVERLOADED("overloaded"),
    /** 500 INTERNAL. */
    INTERNAL("internal"),
    /** 504 DEADLINE_EXCEEDED. */
    DEADLINE_EXCEEDED("deadline-exceeded"),
    /** The connection closes with no response (the JDK server cannot send a TCP RST). */
    CONNECTION_RESET("connection-reset"),
    /** A normal answer, but only after the configured slow-response delay. */
    SLOW_RESPONSE("slow-response"),
    /** 200 with a body cut off mid-JSON. */
    MALFORMED_JSON("malformed-json"),
    /** 200 whose candidate has finishReason SAFETY and no content (generateContent only). */
    SAFETY("safety");

    private final String flag;

    Fault(String flag) {
        this.flag = flag;
    }

    /** The name used in {@code --fault NAME=RATE} and the request log. */
    public String flag() {
        return flag;
    }

    public static Fault fromFlag(String flag) {
        for (Fault f : values()) {
            if (f.flag.equals(flag)) {
                return f;
            }
        }
        throw new IllegalArgumentException("unknown fault '" + flag + "'; known: overloaded, internal, deadline-exceeded, "
                + "connection-reset, slow-response, malformed-json, safety");
    }
}
