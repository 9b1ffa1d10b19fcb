package io.batchpilot.metrics;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Objects;

/**
 * How a worker reports its metrics.
 *
 * @param workerId       names the worker in heartbeats and snapshots (default host-pid); unique in the fleet
 * @param host           the machine, for the fleet dashboard
 * @param version        the worker's version
 * @param reportInterval how often a snapshot and heartbeat are written (default 5 s, 1 s to 5 min)
 */
public record MetricsConfig(String workerId, String host, String version, Duration reportInterval) {

  public static final Duration DEFAULT_REPORT_INTERVAL = Duration.ofSeconds(5);
  public static final Duration MIN_REPORT_INTERVAL = Duration.ofSeconds(1);
  public static final Duration MAX_REPORT_INTERVAL = Duration.ofMinutes(5);

  public MetricsConfig {
    Objects.requireNonNull(reportInterval, "metrics.reportInterval is required");
    if (workerId == null || workerId.isBlank() || workerId.length() > 200) {
      throw new IllegalArgumentException("metrics.workerId must be 1 to 200 characters, got '" + workerId + "'");
    }
    if (host == null || host.isBlank()) {
      throw new IllegalArgumentException("metrics.host must not be blank");
    }
    if (version == null || version.isBlank()) {
      throw new IllegalArgumentException("metrics.version must not be blank");
    }
    if (reportInterval.compareTo(MIN_REPORT_INTERVAL) < 0 || reportInterval.compareTo(MAX_REPORT_INTERVAL) > 0) {
      throw new IllegalArgumentException("metrics.reportInterval must be between " + MIN_REPORT_INTERVAL + " and "
          + MAX_REPORT_INTERVAL + ", got " + reportInterval);
    }
  }

  /** This process on this machine, every 5 s. */
  public static MetricsConfig forThisProcess(String version) {
    String host = localHostName();
    return new MetricsConfig(host + "-" + ProcessHandle.current().pid(), host, version, DEFAULT_REPORT_INTERVAL);
  }

  public MetricsConfig withReportInterval(Duration interval) {
    return new MetricsConfig(workerId, host, version, interval);
  }

  private static String localHostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      String fromJvm = ManagementFactory.getRuntimeMXBean().getName();
      return fromJvm.substring(fromJvm.indexOf('@') + 1);
    }
  }
}
