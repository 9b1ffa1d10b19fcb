package io.batchpilot.files;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import okhttp3.Dns;

/**
 * Refuses addresses inside the worker's own networks (loopback, private, link-local with the cloud
 * metadata service, carrier NAT, reserved) when resolving a URL's host. It runs as OkHttp's
 * {@link Dns}, at connection time, so a host that resolves to a public address when checked and a
 * private one when connected (DNS rebinding) is refused too.
 */
final class InternalAddressGuard implements Dns {

  private final boolean allowInternal;

  InternalAddressGuard(boolean allowInternal) {
    this.allowInternal = allowInternal;
  }

  @Override
  public List<InetAddress> lookup(String hostname) throws UnknownHostException {
    List<InetAddress> addresses = Dns.SYSTEM.lookup(hostname);
    if (!allowInternal) {
      for (InetAddress address : addresses) {
        if (isInternal(address)) {
          throw new RefusedAddressException(hostname + " resolves to " + address.getHostAddress()
              + ", an internal address");
        }
      }
    }
    return addresses;
  }

  /** Checks an address written literally in a URL, which OkHttp connects to without asking Dns. */
  void checkLiteral(InetAddress address) throws RefusedAddressException {
    if (!allowInternal && isInternal(address)) {
      throw new RefusedAddressException(address.getHostAddress() + " is an internal address");
    }
  }

  /** Whether a URL's host is an address rather than a name (OkHttp gives IPv6 without brackets). */
  static boolean isIpLiteral(String host) {
    return host.indexOf(':') >= 0 || host.chars().allMatch(c -> c == '.' || c >= '0' && c <= '9');
  }

  static boolean isInternal(InetAddress address) {
    if (address.isAnyLocalAddress() || address.isLoopbackAddress() || address.isLinkLocalAddress()
        || address.isSiteLocalAddress() || address.isMulticastAddress()) {
      return true;
    }
    byte[] b = address.getAddress();
    if (address instanceof Inet6Address) {
      return (b[0] & 0xfe) == 0xfc; // fc00::/7, unique local
    }
    int first = b[0] & 0xff;
    int second = b[1] & 0xff;
    return first == 0                                  // 0.0.0.0/8, "this network"
        || first == 100 && (second & 0xc0) == 64       // 100.64.0.0/10, carrier-grade NAT
        || first == 198 && (second == 18 || second == 19) // 198.18.0.0/15, benchmarking
        || first >= 240;                               // reserved and broadcast
  }

  /** An UnknownHostException so that OkHttp gives up on the host instead of trying other routes. */
  static final class RefusedAddressException extends UnknownHostException {
    RefusedAddressException(String message) {
      super(message);
    }
  }
}
