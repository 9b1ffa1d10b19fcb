package io.batchpilot.cli;

import static io.batchpilot.jooq.Tables.BATCH_QUOTA_LIMITS;
import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;

import com.zaxxer.hikari.HikariDataSource;
import io.batchpilot.limiter.Strategy;
import io.batchpilot.session.Delivery;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.settings.Kind;
import io.batchpilot.settings.Setting;
import io.batchpilot.store.Jooq;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.jooq.DSLContext;
import picocli.CommandLine.Command;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "submit", defaultValueProvider = SubmitCommand.ModelDefault.class, description = "Create a batch session from local files and folders and register its "
    + "files. Workers read the files through file: URLs, so they must run where the files are and allow the folder "
    + "(BATCHPILOT_LOCAL_FILE_ROOT). Frontends upload to Supabase Storage instead (docs/supabase.md).")
final class SubmitCommand implements Callable<Integer> {

  /** {@code --model}'s default is {@link #MODEL}'s value, so the help shows the one declared. */
  static final class ModelDefault implements IDefaultValueProvider {
    @Override
    public String defaultValue(ArgSpec arg) {
      return arg instanceof OptionSpec option && option.longestName().equals("--model") ? MODEL.from(System.getenv()) : null;
    }
  }

  /** What submit registers, by extension; workers still check the bytes before any API call. */
  static final Map<String, String> SUPPORTED = Map.of(
      "jpg", "image/jpeg", "jpeg", "image/jpeg", "png", "image/png", "webp", "image/webp",
      "pdf", "application/pdf");

  @Mixin DatabaseOptions database;

  @Parameters(arity = "1..*", paramLabel = "FILE_OR_FOLDER", description = "Receipts (JPEG, PNG, WebP, PDF), or folders of them.")
  List<Path> inputs;

  @Option(names = "--name", description = "The session's name (default: the first argument's name).")
  String name;

  static final Setting<String> MODEL = Setting.of("BATCHPILOT_MODEL", Kind.text("a model with a `quota_limits` row"),
      "gemini-2.5-flash", "the Gemini model `submit` gives a session; `submit --model` wins over it");

  @Option(names = "--model",
      description = "Gemini model for extraction (default ${DEFAULT-VALUE}; env BATCHPILOT_MODEL).")
  String model;

  @Option(names = "--strategy", defaultValue = "adaptive", paramLabel = "STRATEGY",
      description = "How much of the model's quota the session may use: conservative, balanced, aggressive or "
          + "adaptive (default ${DEFAULT-VALUE}).")
  String strategy;

  @Option(names = "--max-concurrent", defaultValue = "4",
      description = "Files of this session in flight at once across the fleet (default ${DEFAULT-VALUE}).")
  int maxConcurrent;

  @Option(names = "--delivery", defaultValue = "interactive", paramLabel = "DELIVERY",
      description = "interactive: one call per file, minutes, the full price; batch: Gemini Batch Mode, half the price,"
          + " within 24 hours, usually much less; the model needs a batch_quota_limits row (default ${DEFAULT-VALUE}).")
  String delivery;

  @Option(names = "--interactive-fallback", description = "With --delivery batch: when a batch job expires or fails,"
      + " its files go interactive (the full price, now) instead of into a new batch job.")
  boolean interactiveFallback;

  @Option(names = "--wait", description = "Follow the session until it ends, with live progress.")
  boolean waitForEnd;

  @Option(names = "--json", description = "Print the session as status --json does (after it ends, with --wait; "
      + "no progress is drawn then) instead of text.")
  boolean json;

  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    // Nothing is written before every argument is known good: the strategy, the delivery and the files
    // first, then the model.
    Strategy chosen = strategy(strategy);
    Delivery how = delivery(delivery);
    if (interactiveFallback && how != Delivery.BATCH) {
      throw CliException.usage("--interactive-fallback applies to --delivery batch only: add --delivery batch, or drop it");
    }
    List<NewFile> files = collect(inputs);
    if (files.isEmpty()) {
      throw CliException.usage("no supported files in " + inputs + ": batchpilot takes "
          + String.join(", ", SUPPORTED.keySet().stream().sorted().toList()) + " files (HEIC: convert to JPEG first)");
    }
    String sessionName = name != null ? name : inputs.get(0).toAbsolutePath().normalize().getFileName().toString();
    NewSession session;
    try {
      session = new NewSession(sessionName, null, null, model, maxConcurrent, chosen.sqlName(), how, interactiveFallback);
    } catch (IllegalArgumentException e) {
      throw CliException.usage(e.getMessage());
    }
    PrintWriter out = spec.commandLine().getOut();
    try (HikariDataSource pool = database.open(2, "batchpilot-submit")) {
      requireKnownModel(Jooq.using(pool), model);
      if (how == Delivery.BATCH) {
        requireBatchLimits(Jooq.using(pool), model);
      }
      Sessions sessions = new Sessions(pool);
      UUID id = sessions.submit(session, files);
      if (json) {
        int exit = waitForEnd ? new SessionFollower(pool, id).followToEnd(ProgressView.NONE) : ExitCode.OK;
        JsonOutput.print(out, JsonOutput.session(sessions.progress(id), waitForEnd ? sessions.files(id, true) : null));
        return exit;
      }
      out.printf("session %s: %d file%s submitted (model %s, strategy %s%s)%n", id, files.size(),
          files.size() == 1 ? "" : "s", model, session.processingStrategy(), how == Delivery.BATCH
              ? ", batch delivery: within 24 h" + (interactiveFallback ? ", interactive if a job expires or fails" : "")
              : "");
      out.flush();
      return waitForEnd ? new SessionFollower(pool, id).followToEnd() : ExitCode.OK;
    }
  }

  static Strategy strategy(String text) {
    try {
      return Strategy.fromSqlName(text.strip().toLowerCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw CliException.usage("--strategy '" + text + "' is not a strategy: use one of "
          + String.join(", ", Arrays.stream(Strategy.values()).map(Strategy::sqlName).toList()));
    }
  }

  static Delivery delivery(String text) {
    try {
      return Delivery.fromSqlName(text.strip().toLowerCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw CliException.usage("--delivery '" + text + "' is not a delivery: use " + Delivery.accepted());
    }
  }

  /** Batch Mode has limits of its own (batch_quota_limits); without a row no worker would open a job for the model. */
  static void requireBatchLimits(DSLContext dsl, String model) {
    List<String> known = dsl.select(BATCH_QUOTA_LIMITS.MODEL).from(BATCH_QUOTA_LIMITS)
        .where(BATCH_QUOTA_LIMITS.PROVIDER.eq("gemini")).orderBy(BATCH_QUOTA_LIMITS.MODEL).fetch(BATCH_QUOTA_LIMITS.MODEL);
    if (!known.contains(model)) {
      throw CliException.usage("--delivery batch: --model '" + model + "' has no row in batch_quota_limits, so no worker"
          + " would open a batch job for it: " + (known.isEmpty() ? "the table is empty" : "use one of " + String.join(", ", known))
          + " (or insert the model's Batch Mode limits into batch_quota_limits first)");
    }
  }

  /** A model without a quota_limits row would only fail later, in a worker: refuse it here, naming those there are. */
  static void requireKnownModel(DSLContext dsl, String model) {
    List<String> known = dsl.select(QUOTA_LIMITS.MODEL).from(QUOTA_LIMITS)
        .where(QUOTA_LIMITS.PROVIDER.eq("gemini")).orderBy(QUOTA_LIMITS.MODEL).fetch(QUOTA_LIMITS.MODEL);
    if (!known.contains(model)) {
      throw CliException.usage("--model '" + model + "' has no row in quota_limits, so no worker could call it: "
          + (known.isEmpty() ? "the table is empty" : "use one of " + String.join(", ", known))
          + " (or insert the model's limits into quota_limits first)");
    }
  }

  static List<NewFile> collect(List<Path> inputs) {
    List<Path> paths = new ArrayList<>();
    for (Path input : inputs) {
      if (!Files.exists(input)) {
        throw CliException.usage(input + " does not exist");
      }
      if (Files.isDirectory(input)) {
        try (Stream<Path> walk = Files.walk(input)) {
          walk.filter(Files::isRegularFile).filter(p -> mimeType(p) != null).sorted().forEach(paths::add);
        } catch (IOException e) {
          throw new UncheckedIOException("cannot read folder " + input, e);
        }
      } else if (mimeType(input) != null) {
        paths.add(input);
      } else {
        throw CliException.usage(input + " is not a supported file: batchpilot takes JPEG, PNG, WebP and PDF");
      }
    }
    return paths.stream().map(p -> {
      Path absolute = p.toAbsolutePath().normalize();
      return NewFile.at(absolute.getFileName().toString(), mimeType(absolute), absolute.toUri().toString());
    }).toList();
  }

  private static String mimeType(Path path) {
    String file = path.getFileName().toString();
    int dot = file.lastIndexOf('.');
    return dot < 0 ? null : SUPPORTED.get(file.substring(dot + 1).toLowerCase(Locale.ROOT));
  }
}
