package io.batchpilot.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** What grafana-server reads at start: it must parse, and name only files and data sources that exist. */
class GrafanaProvisioningTest {

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final Pattern ENV = Pattern.compile("\\$\\{([A-Z0-9_]+)}");

  @Test
  void dataSourceIsPostgresAsTheReadOnlyRoleWithEveryCredentialFromTheEnvironment() throws IOException {
    Path file = Dashboards.PROVISIONING.resolve("datasources/batchpilot.yaml");
    JsonNode root = YAML.readTree(file.toFile());
    assertEquals(1, root.path("apiVersion").asInt());
    JsonNode sources = root.path("datasources");
    assertEquals(1, sources.size(), "one data source");
    JsonNode source = sources.get(0);
    assertEquals("batchpilot", source.path("uid").asText());
    assertEquals("grafana-postgresql-datasource", source.path("type").asText());
    for (String field : new String[] {"url", "user"}) {
      assertTrue(ENV.matcher(source.path(field).asText()).find(), field + " must come from the environment");
    }
    assertTrue(ENV.matcher(source.path("jsonData").path("database").asText()).matches(), "database from the environment");
    assertTrue(ENV.matcher(source.path("secureJsonData").path("password").asText()).matches(),
        "the password must come from the environment, never the file");
    assertFalse(source.path("editable").asBoolean(true), "provisioned, so not editable in the UI");
  }

  @Test
  void dashboardProviderPointsAtTheDashboardsFolderAndEveryDashboardUsesTheProvisionedDataSource() throws IOException {
    JsonNode root = YAML.readTree(Dashboards.PROVISIONING.resolve("dashboards/batchpilot.yaml").toFile());
    JsonNode providers = root.path("providers");
    assertEquals(1, providers.size());
    JsonNode provider = providers.get(0);
    assertEquals("file", provider.path("type").asText());
    String path = provider.path("options").path("path").asText();
    Matcher env = ENV.matcher(path);
    assertTrue(env.matches(), "the dashboards path is the environment's absolute path: " + path);
    // docs/operations.md sets it to this repository's grafana/dashboards: that folder must hold the dashboards.
    assertTrue(Files.isDirectory(Dashboards.DASHBOARDS), Dashboards.DASHBOARDS + " is missing");
    assertFalse(Dashboards.files().isEmpty(), "no dashboards in " + Dashboards.DASHBOARDS);

    String dataSourceUid = YAML.readTree(Dashboards.PROVISIONING.resolve("datasources/batchpilot.yaml").toFile())
        .path("datasources").get(0).path("uid").asText();
    Set<String> uids = new HashSet<>();
    for (Path file : Dashboards.files()) {
      JsonNode dashboard = Dashboards.read(file);
      assertTrue(uids.add(dashboard.path("uid").asText()), file + " repeats a dashboard uid");
      Set<Integer> ids = new HashSet<>();
      for (JsonNode panel : dashboard.path("panels")) {
        assertTrue(ids.add(panel.path("id").asInt()), file + " repeats panel id " + panel.path("id"));
        assertEquals(dataSourceUid, panel.path("datasource").path("uid").asText(), file + " / " + panel.path("title"));
        assertFalse(panel.path("description").asText().isBlank(), file + " / " + panel.path("title") + " says nothing about how to read it");
      }
    }
  }

  @Test
  void provisioningNamesNoOtherFolderOrFile() throws IOException {
    try (var files = Files.walk(Dashboards.PROVISIONING)) {
      Set<String> found = new HashSet<>(files.filter(Files::isRegularFile)
          .map(p -> Dashboards.PROVISIONING.relativize(p).toString()).toList());
      assertEquals(Set.of("datasources/batchpilot.yaml", "dashboards/batchpilot.yaml"), found);
    }
  }
}
