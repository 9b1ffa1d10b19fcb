package io.batchpilot.bench;

import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_FILES;
import static io.batchpilot.jooq.Tables.BATCH_UPLOAD_SESSIONS;
import static io.batchpilot.jooq.Tables.QUOTA_LIMITS;

import io.batchpilot.db.testing.TestDatabase;
import io.batchpilot.db.testing.TestPostgres;
import io.batchpilot.session.NewFile;
import io.batchpilot.session.NewSession;
import io.batchpilot.session.Sessions;
import io.batchpilot.store.Jooq;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.Record;
import org.jooq.impl.DSL;
import org.jooq.impl.SQLDataType;

/**
 * How true {@code estimated_completion_at} is when a daily quota binds. Days cannot be waited out
 * live, and the gate resets at the real midnight in Pacific time, so this replays them: one session
 * of files through the real quota gate ({@code acquire_quota} with its own clock argument), each
 * file finished at the moment its call is granted, the clock moved on by whatever wait the gate
 * answers (the next bucket, or the next midnight). The gate's grants are the truth; the estimate
 * ({@code estimate_completion} at the replay's clock) is taken at 25, 50 and 75% of the files
 * finished and compared with the last grant: error = |estimated - actual remaining| / actual remaining.
 *
 * <p>Arguments: files (default 1000), requests per day (default 250), requests per minute (default 10).
 */
public final class DailyQuotaEtaBenchmark {

  private static final double[] CHECKPOINTS = {0.25, 0.50, 0.75};
  private static final String MODEL = "bench-daily";

  public static void main(String[] args) {
    int files = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
    int perDay = args.length > 1 ? Integer.parseInt(args[1]) : 250;
    int perMinute = args.length > 2 ? Integer.parseInt(args[2]) : 10;
    System.out.printf(Locale.ROOT, "%d files, %d requests a day, %d a minute (60 s window, 1 s margin), replayed through the gate%n%n",
        files, perDay, perMinute);
    try (TestDatabase db = TestPostgres.get().createDatabase(true)) {
      DSLContext dsl = Jooq.using(db.dataSource());
      dsl.insertInto(QUOTA_LIMITS)
          .set(QUOTA_LIMITS.PROVIDER, "gemini").set(QUOTA_LIMITS.MODEL, MODEL)
          .set(QUOTA_LIMITS.REQUESTS_PER_MINUTE, perMinute).set(QUOTA_LIMITS.INPUT_TOKENS_PER_MINUTE, 1_000_000_000L)
          .set(QUOTA_LIMITS.REQUESTS_PER_DAY, perDay)
          .execute();
      List<NewFile> list = new ArrayList<>();
      for (int i = 0; i < files; i++) {
        list.add(NewFile.at("r" + i + ".png", "image/png", "file:///replay/r" + i + ".png"));
      }
      UUID session = new Sessions(db.dataSource()).submit(new NewSession("daily", null, null, MODEL, 100, "aggressive"), list);
      OffsetDateTime clock = dsl.select(DSL.field("clock_timestamp()", SQLDataType.TIMESTAMPWITHTIMEZONE)).fetchOne().value1();
      dsl.update(BATCH_UPLOAD_SESSIONS).set(BATCH_UPLOAD_SESSIONS.STATUS, "processing")
          .set(BATCH_UPLOAD_SESSIONS.STARTED_AT, clock).where(BATCH_UPLOAD_SESSIONS.ID.eq(session)).execute();
      List<UUID> pending = dsl.select(BATCH_UPLOAD_FILES.ID).from(BATCH_UPLOAD_FILES)
          .where(BATCH_UPLOAD_FILES.BATCH_SESSION_ID.eq(session)).orderBy(BATCH_UPLOAD_FILES.UPLOAD_ORDER).fetch(BATCH_UPLOAD_FILES.ID);

      OffsetDateTime[] checkpointAt = new OffsetDateTime[CHECKPOINTS.length];
      OffsetDateTime[] estimates = new OffsetDateTime[CHECKPOINTS.length];
      int finished = 0;
      int c = 0;
      long refusals = 0;
      while (finished < files) {
        Record answer = dsl.fetchOne("SELECT granted, permit_id, wait_ms FROM batchpilot_private.acquire_quota("
            + "'gemini', {0}, 300, 'aggressive', {1})", DSL.inline(MODEL), DSL.val(clock));
        if (!answer.get("granted", Boolean.class)) {
          refusals++;
          clock = clock.plus(Duration.ofMillis(answer.get("wait_ms", Long.class)));
          continue;
        }
        dsl.fetch("SELECT public.batchpilot_finish_quota({0}, 300)", DSL.val(answer.get("permit_id", UUID.class)));
        dsl.update(BATCH_UPLOAD_FILES)
            .set(BATCH_UPLOAD_FILES.STATUS, "completed").set(BATCH_UPLOAD_FILES.API_CALLS_MADE, 1)
            .set(BATCH_UPLOAD_FILES.INPUT_TOKENS, 300).set(BATCH_UPLOAD_FILES.PROCESSING_COMPLETED_AT, clock)
            .where(BATCH_UPLOAD_FILES.ID.eq(pending.get(finished))).execute();
        finished++;
        if (c < CHECKPOINTS.length && finished >= CHECKPOINTS[c] * files) {
          dsl.fetch("SELECT batchpilot_private.estimate_completion(interval '60 seconds', {0})", DSL.val(clock));
          checkpointAt[c] = clock;
          estimates[c] = dsl.select(BATCH_UPLOAD_SESSIONS.ESTIMATED_COMPLETION_AT).from(BATCH_UPLOAD_SESSIONS)
              .where(BATCH_UPLOAD_SESSIONS.ID.eq(session)).fetchOne().value1();
          c++;
        }
      }
      OffsetDateTime end = clock;
      System.out.printf(Locale.ROOT, "%d grants, %d refusals; the last file finished %s after the first call%n%n",
          files, refusals, days(Duration.between(checkpointStart(dsl, session), end)));
      System.out.println("| done | at (replay clock, UTC) | estimated remaining | actual remaining | error |");
      System.out.println("|---:|---|---:|---:|---:|");
      for (int i = 0; i < CHECKPOINTS.length; i++) {
        Duration estimated = Duration.between(checkpointAt[i], estimates[i]);
        Duration actual = Duration.between(checkpointAt[i], end);
        double error = Math.abs(estimated.toMillis() - actual.toMillis()) / (double) actual.toMillis();
        System.out.printf(Locale.ROOT, "| %.0f%% | %s | %s | %s | %.2f%% |%n", CHECKPOINTS[i] * 100,
            checkpointAt[i].toInstant().toString().substring(0, 19), days(estimated), days(actual), error * 100);
      }
    }
  }

  private static OffsetDateTime checkpointStart(DSLContext dsl, UUID session) {
    return dsl.select(BATCH_UPLOAD_SESSIONS.STARTED_AT).from(BATCH_UPLOAD_SESSIONS)
        .where(BATCH_UPLOAD_SESSIONS.ID.eq(session)).fetchOne().value1();
  }

  private static String days(Duration d) {
    return String.format(Locale.ROOT, "%d d %02d h %02d m", d.toDays(), d.toHoursPart(), d.toMinutesPart());
  }
}
