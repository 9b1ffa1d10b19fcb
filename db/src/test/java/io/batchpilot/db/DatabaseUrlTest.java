package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class DatabaseUrlTest {

  private static final String SETTING = "DATABASE_URL";

  @Test
  void readsSupabasesDirectConnectionString() {
    DatabaseUrl url = DatabaseUrl.parse(SETTING, "postgresql://postgres:s3cret@db.abcdefghijkl.supabase.co:5432/postgres");
    assertEquals("db.abcdefghijkl.supabase.co", url.host());
    assertEquals(5432, url.port());
    assertEquals("postgres", url.database());
    assertEquals("postgres", url.user());
    assertEquals("s3cret", url.password());
    assertNull(url.sslMode());
    assertEquals("jdbc:pgsql://db.abcdefghijkl.supabase.co:5432/postgres", url.pgjdbcNgUrl());
  }

  @Test
  void withCredentialsRoundTripsEveryPartIncludingAnAwkwardPassword() {
    DatabaseUrl url = new DatabaseUrl("db.example.co", 6543, "my db", "postgres.ref", "p@ss:w/rd %+", "require");
    assertEquals(url, DatabaseUrl.parse(SETTING, url.withCredentials()));
    assertFalse(url.toString().contains("p@ss"), url.toString());
  }

  @Test
  void readsSupabasesPoolerConnectionStringWithItsDottedUser() {
    DatabaseUrl url = DatabaseUrl.parse(SETTING,
        "postgres://postgres.abcdefghijkl:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres?sslmode=require");
    assertEquals("postgres.abcdefghijkl", url.user());
    assertEquals(6543, url.port());
    assertEquals("require", url.sslMode());
    assertEquals("jdbc:pgsql://aws-0-eu-central-1.pooler.supabase.com:6543/postgres?ssl.mode=Require", url.pgjdbcNgUrl());
  }

  @Test
  void decodesPercentEncodedPasswordsAndKeepsPlusLiteral() {
    DatabaseUrl url = DatabaseUrl.parse(SETTING, "postgresql://postgres:p%40ss%2Fw%3Ard%25+x%C3%A9@localhost/app");
    assertEquals("p@ss/w:rd%+xé", url.password());
    assertEquals(DatabaseUrl.DEFAULT_PORT, url.port());
    assertEquals("app", url.database());
  }

  @Test
  void readsJdbcFormsWithCredentialsAsParameters() {
    DatabaseUrl pgjdbc = DatabaseUrl.parse(SETTING,
        "jdbc:postgresql://127.0.0.1:5433/batch?user=worker&password=a%26b+c&sslmode=verify-full");
    assertEquals("worker", pgjdbc.user());
    assertEquals("a&b c", pgjdbc.password(), "in a query string '+' is a space, as every JDBC driver reads it");
    assertEquals(5433, pgjdbc.port());
    assertEquals("jdbc:pgsql://127.0.0.1:5433/batch?ssl.mode=VerifyFull", pgjdbc.pgjdbcNgUrl());

    DatabaseUrl ng = DatabaseUrl.parse(SETTING, "jdbc:pgsql://db.internal/batch?ssl.mode=VerifyCa");
    assertEquals("verify-ca", ng.sslMode());
    assertEquals("jdbc:pgsql://db.internal:5432/batch?ssl.mode=VerifyCa", ng.pgjdbcNgUrl());

    assertEquals("verify-full", DatabaseUrl.parse(SETTING, "jdbc:postgresql://h/db?ssl=true").sslMode(),
        "pgjdbc's ssl=true verifies the certificate and host");
  }

  @ParameterizedTest
  @CsvSource({
      "disable, Disable", "allow, Allow", "prefer, Prefer", "require, Require",
      "verify-ca, VerifyCa", "verify-full, VerifyFull"})
  void mapsEverySslModeToPgjdbcNgsName(String libpq, String pgjdbcNg) {
    DatabaseUrl url = DatabaseUrl.parse(SETTING, "postgresql://u@h/db?sslmode=" + libpq);
    assertTrue(url.pgjdbcNgUrl().endsWith("?ssl.mode=" + pgjdbcNg), url.pgjdbcNgUrl());
  }

  @Test
  void readsIpv6Hosts() {
    DatabaseUrl url = DatabaseUrl.parse(SETTING, "postgresql://u:p@[::1]:5432/db");
    assertEquals("jdbc:pgsql://[::1]:5432/db", url.pgjdbcNgUrl());
  }

  @Test
  void passwordNeverAppearsInToString() {
    DatabaseUrl url = DatabaseUrl.parse(SETTING, "postgresql://postgres:hunter2@db.example.supabase.co:5432/postgres?sslmode=require");
    assertEquals("postgresql://postgres:****@db.example.supabase.co:5432/postgres?sslmode=require", url.toString());
    assertFalse(url.withDatabase("other").toString().contains("hunter2"));
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "mysql://root:hunter2@localhost/db",
      "postgresql://postgres:hunter2@/postgres",
      "postgresql://postgres:hunter2@localhost:5432",
      "postgresql://postgres:hunter2@localhost:5432/",
      "postgresql://postgres:hunter2@localhost:99999/postgres",
      "postgresql://postgres:hun ter2@localhost/postgres",
      "postgresql://postgres:hunter2%zz@localhost/postgres",
      "postgresql://postgres:hunter2@localhost/postgres?sslmode=always",
      "jdbc:postgresql://localhost/postgres?user=postgres&password=hunter2&sslmode=sometimes",
      // An unencoded '@' in the password, the commonest mistake: no part of the password may show.
      "postgresql://postgres:hun@ter2@localhost/postgres?sslmode=sometimes",
  })
  void malformedUrlsFailWithAMessageNamingTheSettingAndNeverThePassword(String text) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DatabaseUrl.parse(SETTING, text));
    assertTrue(e.getMessage().startsWith(SETTING + " "), e.getMessage());
    assertTrue(e.getMessage().contains("postgresql://"), "the message shows the expected form: " + e.getMessage());
    for (String part : new String[] {"hunter2", "hun ter2", "ter2", "hun@"}) {
      assertFalse(e.getMessage().contains(part), "the password leaked: " + e.getMessage());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "   "})
  void emptySettingSaysWhatToSetItTo(String text) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DatabaseUrl.parse(SETTING, text));
    assertEquals("DATABASE_URL is empty: set it to postgresql://user:password@host:5432/database", e.getMessage());
  }

  @Test
  void maskPasswordHidesUserInfoAndParameterPasswords() {
    assertEquals("postgresql://u:****@h/db", DatabaseUrl.maskPassword("postgresql://u:p@ss@h/db"));
    assertEquals("jdbc:postgresql://h/db?user=u&password=****&x=1",
        DatabaseUrl.maskPassword("jdbc:postgresql://h/db?user=u&password=secret&x=1"));
    assertEquals("postgresql://u@h/db", DatabaseUrl.maskPassword("postgresql://u@h/db"));
  }
}
