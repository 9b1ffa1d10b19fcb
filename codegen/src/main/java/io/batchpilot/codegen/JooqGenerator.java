package io.batchpilot.codegen;

import io.batchpilot.db.DatabaseUrl;
import java.nio.file.Path;
import org.jooq.codegen.GenerationTool;
import org.jooq.meta.jaxb.Configuration;
import org.jooq.meta.jaxb.Database;
import org.jooq.meta.jaxb.Generate;
import org.jooq.meta.jaxb.Generator;
import org.jooq.meta.jaxb.Jdbc;
import org.jooq.meta.jaxb.Target;

/** Generates batchpilot's jOOQ classes from a migrated database into a source folder. */
public final class JooqGenerator {

  public static final String PACKAGE = "io.batchpilot.jooq";

  /** Our tables and routines in public, and the app tables we write to; not Flyway's history. */
  static final String INCLUDES = "public\\..*";
  static final String EXCLUDES = "public\\.batchpilot_.*_history|public\\.batchpilot_schema_history";

  private JooqGenerator() {}

  public static void generate(DatabaseUrl migrated, Path targetDirectory) throws Exception {
    Configuration configuration = new Configuration()
        .withJdbc(new Jdbc()
            .withDriver("com.impossibl.postgres.jdbc.PGDriver")
            .withUrl(migrated.pgjdbcNgUrl())
            .withUser(migrated.user())
            .withPassword(migrated.password()))
        .withGenerator(new Generator()
            .withDatabase(new Database()
                .withName("org.jooq.meta.postgres.PostgresDatabase")
                .withInputSchema("public")
                .withIncludes(INCLUDES)
                .withExcludes(EXCLUDES)
                .withOutputSchemaToDefault(true))
            .withGenerate(new Generate()
                .withGeneratedAnnotation(false)
                .withJavaTimeTypes(true)
                .withPojos(false)
                .withDaos(false)
                .withRecords(true)
                .withFluentSetters(true))
            .withTarget(new Target()
                .withPackageName(PACKAGE)
                .withDirectory(targetDirectory.toString())
                .withClean(true)));
    GenerationTool.generate(configuration);
  }
}
