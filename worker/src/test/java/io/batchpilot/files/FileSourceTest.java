package io.batchpilot.files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import okhttp3.OkHttpClient;
import okhttp3.tls.HandshakeCertificates;
import okhttp3.tls.HeldCertificate;
import okio.Buffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileSourceTest {

  private static final String KEY = "service-role-key-never-shown";
  private static final HeldCertificate LOCALHOST = new HeldCertificate.Builder().addSubjectAlternativeName("localhost").build();

  private final MockWebServer server = new MockWebServer();
  private OkHttpClient http;

  @TempDir Path root;

  @BeforeEach
  void start() throws IOException {
    HandshakeCertificates serverCerts = new HandshakeCertificates.Builder().heldCertificate(LOCALHOST).build();
    server.useHttps(serverCerts.sslSocketFactory());
    server.start();
    HandshakeCertificates clientCerts = new HandshakeCertificates.Builder()
        .addTrustedCertificate(LOCALHOST.certificate()).build();
    http = new OkHttpClient.Builder()
        .sslSocketFactory(clientCerts.sslSocketFactory(), clientCerts.trustManager()).build();
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private FileSource storage(long maxBytes) {
    URI supabase = server.url("/").uri();
    return new FileSource(FileSourceConfig.defaults().withSupabase(supabase, KEY, Set.of("receipts", "b")).withMaxFileBytes(maxBytes), http);
  }

  private FileSource urls(Set<String> hosts, boolean allowPrivate) {
    return new FileSource(FileSourceConfig.defaults().withAllowedHosts(hosts, allowPrivate), http);
  }

  private static FileUnavailableException unavailable(FileSource source, FileLocation location) {
    FileUnavailableException e = assertThrows(FileUnavailableException.class, () -> source.load(location));
    assertEquals("file_unavailable", e.errorType());
    assertFalse(e.getMessage().contains(KEY), e.getMessage());
    return e;
  }

  @Test
  void storageObjectIsFetchedWithTheServiceRoleKey() throws Exception {
    server.enqueue(new MockResponse.Builder().code(200).addHeader("Content-Type", "image/jpeg").body("bytes").build());
    try (LoadedFile file = storage(1000).load(FileLocation.of("receipts", "team 1/a.jpg", null))) {
      assertArrayEquals("bytes".getBytes(), Files.readAllBytes(file.path()));
      assertEquals(Optional.of("image/jpeg"), file.contentType());
    }
    RecordedRequest request = server.takeRequest();
    assertEquals("GET", request.getMethod());
    assertEquals("/storage/v1/object/authenticated/receipts/team%201/a.jpg", request.getTarget());
    assertEquals("Bearer " + KEY, request.getHeaders().get("Authorization"));
    assertEquals(KEY, request.getHeaders().get("apikey"));
  }

  @Test
  void missingStorageObjectIsPermanent() {
    server.enqueue(new MockResponse.Builder().code(404).body("{\"statusCode\":\"404\",\"error\":\"not_found\"}").build());
    FileUnavailableException e = unavailable(storage(1000), new FileLocation.StorageObject("receipts", "gone.jpg"));
    assertFalse(e.retryable());
    assertEquals("storage object receipts/gone.jpg does not exist in Supabase Storage: upload the file"
        + " again or correct storage_bucket/storage_path", e.getMessage());
  }

  @Test
  void storagesFourHundredWithANotFoundBodyIsAMissingObject() {
    server.enqueue(new MockResponse.Builder().code(400)
        .body("{\"statusCode\":\"404\",\"error\":\"not_found\",\"message\":\"Object not found\"}").build());
    FileUnavailableException e = unavailable(storage(1000), new FileLocation.StorageObject("receipts", "gone.jpg"));
    assertFalse(e.retryable());
    assertTrue(e.getMessage().contains("does not exist in Supabase Storage"), e.getMessage());
  }

  @Test
  void storageServerErrorIsRetryable() {
    server.enqueue(new MockResponse.Builder().code(503).build());
    FileUnavailableException e = unavailable(storage(1000), new FileLocation.StorageObject("b", "p.jpg"));
    assertTrue(e.retryable());
    assertEquals("storage object b/p.jpg could not be downloaded: HTTP 503 (will retry)", e.getMessage());
  }

  @Test
  void refusedKeyNamesTheSettingNotTheKey() {
    server.enqueue(new MockResponse.Builder().code(403).build());
    FileUnavailableException e = unavailable(storage(1000), new FileLocation.StorageObject("b", "p.jpg"));
    assertFalse(e.retryable());
    assertTrue(e.getMessage().contains("check SUPABASE_SERVICE_ROLE_KEY"), e.getMessage());
  }

  @Test
  void aStalledDownloadTimesOutAndIsRetryable() {
    server.enqueue(new MockResponse.Builder().code(200).body("late").headersDelay(5, TimeUnit.SECONDS).build());
    FileSource source = new FileSource(FileSourceConfig.defaults().withSupabase(server.url("/").uri(), KEY, Set.of("b"))
        .withTimeouts(Duration.ofSeconds(1), Duration.ofMillis(300)), http);
    FileUnavailableException e = unavailable(source, new FileLocation.StorageObject("b", "slow.jpg"));
    assertTrue(e.retryable());
    assertEquals("downloading storage object b/slow.jpg timed out (will retry)", e.getMessage());
  }

  @Test
  void oversizeDownloadStopsAtTheLimitWithOrWithoutALength() {
    server.enqueue(new MockResponse.Builder().code(200).body("x".repeat(2000)).build());
    InvalidFileException declared = assertThrows(InvalidFileException.class,
        () -> storage(1000).load(new FileLocation.StorageObject("b", "big.jpg")));
    assertEquals("storage object b/big.jpg is 2000 bytes; the limit is 1000 bytes (BATCHPILOT_MAX_FILE_BYTES):"
        + " compress or split the file and upload it again", declared.getMessage());

    server.enqueue(new MockResponse.Builder().code(200).chunkedBody(new Buffer().writeUtf8("x".repeat(200_000)), 1000).build());
    InvalidFileException streamed = assertThrows(InvalidFileException.class,
        () -> storage(100_000).load(new FileLocation.StorageObject("b", "big.jpg")));
    assertTrue(streamed.getMessage().contains("is more than 100000 bytes"), streamed.getMessage());
  }

  @Test
  void aLoadedFileIsAnOwnerOnlyCopyThatCloseDeletesAndARefusedDownloadLeavesNone(@TempDir Path spool) throws Exception {
    FileSource source = new FileSource(FileSourceConfig.defaults().withSupabase(server.url("/").uri(), KEY, Set.of("b"))
        .withMaxFileBytes(100_000), http, spool);
    server.enqueue(new MockResponse.Builder().code(200).body("y".repeat(90_000)).build());
    LoadedFile loaded = source.load(new FileLocation.StorageObject("b", "ok.jpg"));
    assertEquals(spool, loaded.path().getParent());
    assertEquals(90_000, loaded.size());
    assertEquals("y".repeat(90_000), Files.readString(loaded.path()));
    assertEquals(Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE),
        Files.getPosixFilePermissions(loaded.path()));
    loaded.close();
    assertFalse(Files.exists(loaded.path()));

    server.enqueue(new MockResponse.Builder().code(200).chunkedBody(new Buffer().writeUtf8("x".repeat(200_000)), 1000).build());
    assertThrows(InvalidFileException.class, () -> source.load(new FileLocation.StorageObject("b", "big.jpg")));
    try (var files = Files.list(spool)) {
      assertEquals(List.of(), files.toList(), "a refused download's partial copy is deleted");
    }
  }

  @Test
  void copiesLeftByAKilledWorkerAreDeletedOnceTheyAreADayOldAndNothingElse(@TempDir Path spool) throws Exception {
    Path abandoned = Files.writeString(spool.resolve("batchpilot-1.file"), "left by kill -9");
    Files.setLastModifiedTime(abandoned, FileTime.from(Instant.now().minus(Duration.ofHours(25))));
    Path inUse = Files.writeString(spool.resolve("batchpilot-2.file"), "being sent");
    Path other = Files.writeString(spool.resolve("someone-else.file"), "not ours");
    Files.setLastModifiedTime(other, FileTime.from(Instant.now().minus(Duration.ofDays(30))));

    FileSource source = new FileSource(FileSourceConfig.defaults(), http, spool);

    assertEquals(1, source.deleteAbandonedCopies());
    assertFalse(Files.exists(abandoned));
    assertTrue(Files.exists(inUse));
    assertTrue(Files.exists(other));
  }

  @Test
  void storageObjectsOutsideTheListedBucketsOrClimbingOutAreNeverRequested() {
    FileUnavailableException bucket = unavailable(storage(1000), new FileLocation.StorageObject("private", "a.jpg"));
    assertFalse(bucket.retryable());
    assertEquals("storage object private/a.jpg is refused: bucket 'private' is not in"
        + " BATCHPILOT_STORAGE_BUCKETS; add it there if uploads go to it", bucket.getMessage());
    FileUnavailableException climb = unavailable(storage(1000),
        new FileLocation.StorageObject("receipts", "../private/a.jpg"));
    assertTrue(climb.getMessage().contains("storage_path has an empty, '.' or '..' segment"), climb.getMessage());
    assertEquals(0, server.getRequestCount());
  }

  @Test
  void storageIsRefusedWhenNotConfigured() {
    FileSource none = new FileSource(FileSourceConfig.defaults(), http);
    FileUnavailableException e = unavailable(none, new FileLocation.StorageObject("b", "p.jpg"));
    assertFalse(e.retryable());
    assertEquals(0, server.getRequestCount());
  }

  @Test
  void urlOnAnAllowedHostIsFetchedAndRedirectsAreCheckedHopByHop() throws Exception {
    server.enqueue(new MockResponse.Builder().code(302).addHeader("Location", "/final.png").build());
    server.enqueue(new MockResponse.Builder().code(200).body("png").build());
    try (LoadedFile file = urls(Set.of("localhost"), true).load(new FileLocation.RemoteUrl(server.url("/start").uri()))) {
      assertArrayEquals("png".getBytes(), Files.readAllBytes(file.path()));
    }
    assertEquals("/start", server.takeRequest().getTarget());
    assertEquals("/final.png", server.takeRequest().getTarget());

    server.enqueue(new MockResponse.Builder().code(302).addHeader("Location", "https://elsewhere.invalid/x").build());
    FileUnavailableException e = unavailable(urls(Set.of("localhost"), true),
        new FileLocation.RemoteUrl(server.url("/start").uri()));
    assertTrue(e.getMessage().contains("host elsewhere.invalid is not in BATCHPILOT_URL_ALLOWED_HOSTS"), e.getMessage());
  }

  @Test
  void urlOnAHostNotAllowedIsNeverRequested() {
    FileUnavailableException e = unavailable(urls(Set.of("receipts.example.com"), true),
        new FileLocation.RemoteUrl(server.url("/a.png").uri()));
    assertFalse(e.retryable());
    assertTrue(e.getMessage().endsWith("host localhost is not in BATCHPILOT_URL_ALLOWED_HOSTS: add it"
        + " there if files may come from it"), e.getMessage());
    assertEquals(0, server.getRequestCount());
  }

  @Test
  void allowedHostsResolvingToInternalAddressesAreRefusedUnlessAllowed() {
    FileUnavailableException byName = unavailable(urls(Set.of("localhost"), false),
        new FileLocation.RemoteUrl(server.url("/a.png").uri()));
    assertFalse(byName.retryable());
    assertTrue(byName.getMessage().contains("localhost resolves to 127.0.0.1, an internal address"), byName.getMessage());

    FileUnavailableException metadata = unavailable(urls(Set.of("169.254.169.254"), false),
        new FileLocation.RemoteUrl(URI.create("https://169.254.169.254/latest/meta-data/")));
    assertTrue(metadata.getMessage().contains("169.254.169.254 is an internal address"), metadata.getMessage());
    assertEquals(0, server.getRequestCount());
  }

  @Test
  void plainHttpUrlsAreRefused() throws Exception {
    FileUnavailableException e = unavailable(urls(Set.of("example.com"), false),
        FileLocation.of(null, null, "http://example.com/a.png"));
    assertTrue(e.getMessage().contains("only https URLs are fetched"), e.getMessage());
  }

  @Test
  void localFileUnderTheRootIsRead() throws Exception {
    Path file = Files.write(root.resolve("a.png"), new byte[] {1, 2, 3});
    FileSource source = new FileSource(FileSourceConfig.defaults().withLocalRoot(root), http);
    try (LoadedFile loaded = source.load(FileLocation.of(null, null, file.toUri().toString()))) {
      assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(loaded.path()));
      assertEquals(Optional.empty(), loaded.contentType());
    }
  }

  @Test
  void localFileOutsideTheRootIsRefusedEvenThroughALink(@TempDir Path elsewhere) throws Exception {
    Path uploads = Files.createDirectory(root.resolve("uploads"));
    Path secret = Files.writeString(elsewhere.resolve("secret.txt"), "secret");
    Files.createSymbolicLink(uploads.resolve("link.png"), secret);
    FileSource source = new FileSource(FileSourceConfig.defaults().withLocalRoot(uploads), http);

    FileUnavailableException dotDot = unavailable(source,
        FileLocation.of(null, null, uploads.toUri() + "../../" + elsewhere.getFileName() + "/secret.txt"));
    assertFalse(dotDot.retryable());
    assertTrue(dotDot.getMessage().contains("is refused: it is outside BATCHPILOT_LOCAL_FILE_ROOT"), dotDot.getMessage());

    FileUnavailableException link = unavailable(source, FileLocation.of(null, null, uploads.resolve("link.png").toUri().toString()));
    assertTrue(link.getMessage().contains("is outside BATCHPILOT_LOCAL_FILE_ROOT"), link.getMessage());
  }

  @Test
  void localFilesAreRefusedWithoutARootAndMissingOnesArePermanent() throws Exception {
    Path file = Files.write(root.resolve("a.png"), new byte[] {1});
    FileUnavailableException noRoot = unavailable(new FileSource(FileSourceConfig.defaults(), http),
        FileLocation.of(null, null, file.toUri().toString()));
    assertTrue(noRoot.getMessage().endsWith("this worker reads no local files (BATCHPILOT_LOCAL_FILE_ROOT is not set)"));

    FileUnavailableException missing = unavailable(new FileSource(FileSourceConfig.defaults().withLocalRoot(root), http),
        FileLocation.of(null, null, root.resolve("gone.png").toUri().toString()));
    assertFalse(missing.retryable());
    assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
  }

  @Test
  void aRowWithNoLocationOrAnUnknownSchemeIsPermanent() {
    FileUnavailableException none = assertThrows(FileUnavailableException.class, () -> FileLocation.of(null, null, " "));
    assertFalse(none.retryable());
    FileUnavailableException ftp = assertThrows(FileUnavailableException.class,
        () -> FileLocation.of(null, null, "ftp://example.com/a.png"));
    assertTrue(ftp.getMessage().contains("has scheme 'ftp'"), ftp.getMessage());
  }

  @Test
  void configToStringNeverShowsTheKey() {
    String shown = FileSourceConfig.defaults().withSupabase(URI.create("https://x.supabase.co"), KEY, Set.of("receipts")).toString();
    assertFalse(shown.contains(KEY), shown);
    assertTrue(shown.contains("serviceRoleKey=(set)"), shown);
  }

  @Test
  void badSettingsAreRefusedByName() {
    IllegalArgumentException host = assertThrows(IllegalArgumentException.class,
        () -> FileSourceConfig.defaults().withAllowedHosts(Set.of("https://x.com/"), false));
    assertTrue(host.getMessage().startsWith("BATCHPILOT_URL_ALLOWED_HOSTS entry"), host.getMessage());
    IllegalArgumentException half = assertThrows(IllegalArgumentException.class,
        () -> FileSourceConfig.fromEnvironment(java.util.Map.of("SUPABASE_URL", "https://x.supabase.co")));
    assertTrue(half.getMessage().contains("SUPABASE_SERVICE_ROLE_KEY"), half.getMessage());
    IllegalArgumentException buckets = assertThrows(IllegalArgumentException.class,
        () -> FileSourceConfig.fromEnvironment(java.util.Map.of("SUPABASE_URL", "https://x.supabase.co",
            "SUPABASE_SERVICE_ROLE_KEY", KEY)));
    assertTrue(buckets.getMessage().startsWith("set BATCHPILOT_STORAGE_BUCKETS"), buckets.getMessage());
    assertFalse(buckets.getMessage().contains(KEY));
  }
}
