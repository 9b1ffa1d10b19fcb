package io.batchpilot.cli;

/** What {@code batchpilot} exits with; documented in the README. */
public final class ExitCode {

  /** The command did what it was asked. */
  public static final int OK = 0;
  /** The work ran but did not succeed: a session failed, or files failed. */
  public static final int FAILED = 1;
  /** A flag, argument or setting is wrong or missing: the message names it and the fix. */
  public static final int USAGE = 2;
  /** The session (or other thing) named does not exist. */
  public static final int NOT_FOUND = 3;
  /** A service batchpilot needs did not answer: the database, Gemini, Storage. */
  public static final int UNAVAILABLE = 4;

  private ExitCode() {}
}
