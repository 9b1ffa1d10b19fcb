package io.batchpilot.pipeline;

/**
 * Who gets an equal share of the fleet (and so of the quota) when several have work: each tenant
 * (a session's team, else its owner), and each session within its tenant's share; or each session
 * alone, however many a tenant runs.
 */
public enum FairShare {
  TEAM("team"), SESSION("session");

  private final String sqlName;

  FairShare(String sqlName) {
    this.sqlName = sqlName;
  }

  /** The value {@code batchpilot_private.claim_files} takes. */
  public String sqlName() {
    return sqlName;
  }
}
