package io.batchpilot.pipeline;

import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;

/** Registers test sessions through the same path the command line uses. */
final class Batches {

  private Batches() {}

  static UUID submit(DataSource dataSource, String name, int files, int maxConcurrent) {
    List<NewFile> list = new ArrayList<>();
    for (int i = 0; i < files; i++) {
      list.add(NewFile.at(name + "-" + i + ".png", "image/png", "file:" + name + "/" + i + ".png"));
    }
    return new Sessions(dataSource).submit(
        new NewSession(name, null, null, "gemini-2.5-flash", maxConcurrent, "balanced"), list);
  }
}
