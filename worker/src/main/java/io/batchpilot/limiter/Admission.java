package io.batchpilot.limiter;

import java.time.Duration;
import java.util.Objects;

/** The gate's answer: go ahead with a {@link Permit}, or ask again after {@link Wait#delay()}. */
public sealed interface Admission {

  /** The request may be sent now. */
  record Granted(Permit permit) implements Admission {
    public Granted {
      Objects.requireNonNull(permit, "permit");
    }
  }

  /** Nothing may be sent before {@code delay} has passed (from the database's point of view). */
  record Wait(Duration delay, WaitReason reason) implements Admission {
    public Wait {
      Objects.requireNonNull(delay, "delay");
      Objects.requireNonNull(reason, "reason");
    }
  }
}
