package io.batchpilot.cli;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.batchpilot.db.DatabaseUrl;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import picocli.CommandLine;

/**
 * The README and docs/*.md are a manual people copy from: every {@code batchpilot} command they show
 * parses as shown through the real command line (a renamed command or flag, or a bad value, fails
 * here) and its command then runs as {@code --help}, the production one-liner's settings are accepted as printed, and every relative
 * link leads to a file and, with an anchor, to a heading in it.
 */
class ReadmeCommandsTest {

  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
  /** Code blocks in these languages hold no shell commands. */
  private static final Set<String> NOT_SHELL = Set.of("sql", "ts", "tsx", "js", "java", "json", "yaml");
  /** A placeholder the reader fills in: {@code <session>}, {@code [DIR]}, {@code [flags]}. */
  private static final Pattern PLACEHOLDER = Pattern.compile("<[A-Za-z][^<>`]*>|\\[[A-Za-z][A-Za-z ]*]");
  private static final Pattern INLINE_CODE = Pattern.compile("`([^`]+)`");
  private static final Pattern LINK = Pattern.compile("\\[[^\\]]*]\\(([^)\\s]+)\\)");
  private static final Pattern ASSIGNMENT = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*=.*");
  private static final Pattern HEADING = Pattern.compile("^#{1,6} +(.+?) *#*$");

  /** A command shown in a document: where, and its arguments after {@code batchpilot}. */
  record Shown(String where, List<String> args) {}

  @Test
  void everyCommandShownRunsAtLeastAsHelp() {
    List<Shown> shown = documents().stream().flatMap(d -> commandsIn(d).stream()).toList();
    Set<String> readmeCommands = commandsIn(ROOT.resolve("README.md")).stream()
        .map(s -> s.args().isEmpty() ? "" : s.args().get(0)).collect(Collectors.toCollection(TreeSet::new));
    assertTrue(readmeCommands.containsAll(Set.of("demo", "worker", "migrate", "supabase-migration")),
        "the README's commands were not found as expected: " + readmeCommands);
    assertAll(shown.stream().map(command -> (Executable) () -> {
      String as = command.where() + ": batchpilot " + String.join(" ", command.args());
      List<String> help = new ArrayList<>(parsedCommand(as, command.args()));
      help.add(command.args().contains("--version") ? "--version" : "--help");
      CliRun run = CliRun.of(help.toArray(String[]::new));
      assertEquals(ExitCode.OK, run.exitCode(), as + ": batchpilot " + String.join(" ", help) + " failed:\n" + run.err());
      assertFalse(run.out().isBlank(), as + ": printed nothing");
    }));
  }

  /**
   * The (sub)command the arguments name, after checking that every command, flag and value in them
   * is one the command line takes: only what a placeholder stood for may be missing.
   */
  private static List<String> parsedCommand(String as, List<String> args) {
    CommandLine named;
    try {
      CommandLine.ParseResult parsed = Main.commandLine().parseArgs(args.toArray(String[]::new));
      while (parsed.subcommand() != null) {
        parsed = parsed.subcommand();
      }
      named = parsed.commandSpec().commandLine();
    } catch (CommandLine.MissingParameterException missing) {
      named = missing.getCommandLine();
      requireNothingElseWrong(as, args, missing);
    } catch (CommandLine.ParameterException wrong) {
      throw new AssertionError(as + ": does not parse as shown: " + wrong.getMessage(), wrong);
    }
    List<String> path = new ArrayList<>(List.of(named.getCommandSpec().qualifiedName().split(" ")));
    return path.subList(1, path.size());
  }

  /**
   * picocli reports a missing positional (what a placeholder stood for) before an unknown flag, so
   * a value stands in for each missing positional and the arguments are parsed again.
   */
  private static void requireNothingElseWrong(String as, List<String> args, CommandLine.MissingParameterException missing) {
    if (!missing.getMissing().stream().allMatch(CommandLine.Model.ArgSpec::isPositional)) {
      return;
    }
    List<String> filled = new ArrayList<>(args);
    missing.getMissing().forEach(positional -> filled.add("placeholder"));
    try {
      Main.commandLine().parseArgs(filled.toArray(String[]::new));
    } catch (CommandLine.MissingParameterException stillMissing) {
      // An option's value was a placeholder too: the value stood in for it.
    } catch (CommandLine.ParameterException wrong) {
      throw new AssertionError(as + ": does not parse as shown: " + wrong.getMessage(), wrong);
    }
  }

  @Test
  void theProductionOneLinersSettingsAreAcceptedAsPrinted() {
    Map<String, String> env = productionOneLiner();
    assertTrue(env.keySet().containsAll(Set.of("DATABASE_URL", "GEMINI_API_KEY", "SUPABASE_URL",
        "SUPABASE_SERVICE_ROLE_KEY", "BATCHPILOT_STORAGE_BUCKETS")), "the one-liner's variables: " + env.keySet());
    DatabaseUrl database = DatabaseUrl.parse("DATABASE_URL", env.get("DATABASE_URL"));
    WorkerSettings.from(database, env);

    env.remove("BATCHPILOT_STORAGE_BUCKETS");
    CliException without = assertThrows(CliException.class, () -> WorkerSettings.from(database, env));
    assertEquals(ExitCode.USAGE, without.exitCode());
    assertTrue(without.getMessage().contains("BATCHPILOT_STORAGE_BUCKETS"), without.getMessage());
  }

  @Test
  void everyRelativeLinkLeadsToAFileAndHeading() {
    List<String> broken = new ArrayList<>();
    List<Path> documents = new ArrayList<>(documents());
    documents.add(ROOT.resolve("db/README.md"));
    for (Path document : documents) {
      List<String> lines = proseLines(document);
      for (int i = 0; i < lines.size(); i++) {
        Matcher link = LINK.matcher(withoutInlineCode(lines.get(i)));
        while (link.find()) {
          String problem = problemWith(document, link.group(1));
          if (problem != null) {
            broken.add(ROOT.relativize(document) + ":" + (i + 1) + ": " + link.group(1) + ": " + problem);
          }
        }
      }
    }
    assertTrue(broken.isEmpty(), "broken links:\n" + String.join("\n", broken));
  }

  @Test
  void anchorsAreSpelledAsGithubSpellsThem() {
    assertEquals("image-memory-a-1400014000-png-and-a-19-mb-photo-at--xmx64m-issue-17",
        slug("Image memory: a 14000×14000 PNG and a 19 MB photo at `-Xmx64m` (issue 17)"));
    assertEquals("the-hosts-receipts-as-it-is", slug("The host's `receipts`, as it is"));
    assertEquals("3-push-the-migration", slug("3. Push the migration"));
    assertEquals(List.of("a", "a-1", "b"), List.copyOf(headingAnchors(List.of("# A", "## A", "### B"))));
  }

  /** null when the link leads somewhere, else what is wrong. */
  private static String problemWith(Path document, String target) {
    if (target.matches("^[a-z]+:.*")) {
      return null; // https:, mailto:: not this test's business
    }
    int hash = target.indexOf('#');
    String path = hash < 0 ? target : target.substring(0, hash);
    String anchor = hash < 0 ? "" : target.substring(hash + 1);
    Path file = path.isEmpty() ? document : document.getParent().resolve(path).normalize();
    if (!Files.exists(file)) {
      return "no such file " + ROOT.relativize(file);
    }
    if (anchor.isEmpty()) {
      return null;
    }
    if (!file.toString().endsWith(".md")) {
      return "an anchor into a file that is not Markdown";
    }
    Set<String> anchors = headingAnchors(proseLines(file));
    return anchors.contains(anchor) ? null : "no heading #" + anchor + " in " + ROOT.relativize(file);
  }

  private static List<Path> documents() {
    try (Stream<Path> docs = Files.list(ROOT.resolve("docs"))) {
      List<Path> all = new ArrayList<>();
      all.add(ROOT.resolve("README.md"));
      docs.filter(p -> p.toString().endsWith(".md")).sorted().forEach(all::add);
      return all;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static List<String> lines(Path document) {
    try {
      return Files.readAllLines(document);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The document's lines with the fenced code blocks blanked (line numbers kept). */
  private static List<String> proseLines(Path document) {
    List<String> prose = new ArrayList<>();
    boolean fenced = false;
    for (String line : lines(document)) {
      boolean fence = line.strip().startsWith("```");
      prose.add(fenced || fence ? "" : line);
      if (fence) {
        fenced = !fenced;
      }
    }
    return prose;
  }

  private static String withoutInlineCode(String line) {
    return INLINE_CODE.matcher(line).replaceAll("");
  }

  /** The anchors GitHub gives the document's headings, duplicates numbered as it numbers them. */
  private static Set<String> headingAnchors(List<String> lines) {
    Map<String, Integer> seen = new HashMap<>();
    Set<String> anchors = new TreeSet<>();
    for (String line : lines) {
      Matcher heading = HEADING.matcher(line);
      if (heading.matches()) {
        String slug = slug(heading.group(1));
        int n = seen.merge(slug, 1, Integer::sum) - 1;
        anchors.add(n == 0 ? slug : slug + "-" + n);
      }
    }
    return anchors;
  }

  /** GitHub's anchor for a heading: lower case, punctuation and symbols dropped, spaces to hyphens. */
  static String slug(String heading) {
    return heading.strip().toLowerCase(Locale.ROOT).replaceAll("[^\\p{L}\\p{N}\\p{Mn} _-]", "").replace(' ', '-');
  }

  /** Every batchpilot invocation in the document's shell code blocks and inline code. */
  private static List<Shown> commandsIn(Path document) {
    List<Shown> shown = new ArrayList<>();
    List<String> lines = lines(document);
    String language = null;
    StringBuilder command = new StringBuilder();
    int start = 0;
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i);
      String where = ROOT.relativize(document) + ":" + (i + 1);
      if (line.strip().startsWith("```")) {
        language = language == null ? line.strip().substring(3).strip() : null;
        continue;
      }
      if (language != null) {
        if (NOT_SHELL.contains(language)) {
          continue;
        }
        if (command.isEmpty()) {
          start = i + 1;
        }
        if (line.endsWith("\\")) {
          command.append(line, 0, line.length() - 1).append(' ');
          continue;
        }
        command.append(line);
        invocations(ROOT.relativize(document) + ":" + start, command.toString(), shown);
        command.setLength(0);
      } else {
        Matcher code = INLINE_CODE.matcher(line);
        while (code.find()) {
          invocations(where, code.group(1), shown);
        }
      }
    }
    return shown;
  }

  /** Adds each {@code batchpilot …} (or {@code java … -jar …batchpilot.jar …}) in the text. */
  private static void invocations(String where, String text, List<Shown> into) {
    List<String> tokens = shellTokens(PLACEHOLDER.matcher(text).replaceAll(""));
    boolean commandPosition = true;
    for (int i = 0; i < tokens.size(); i++) {
      String token = tokens.get(i);
      boolean script = commandPosition && (token.equals("batchpilot") || token.endsWith("/batchpilot"));
      boolean jar = token.endsWith("batchpilot.jar") && i > 0 && tokens.get(i - 1).equals("-jar");
      // A command starts a line or follows an operator, perhaps after variables assigned for it.
      commandPosition = isOperator(token) || (commandPosition && ASSIGNMENT.matcher(token).matches());
      if (script || jar) {
        List<String> args = new ArrayList<>();
        for (int j = i + 1; j < tokens.size() && !isOperator(tokens.get(j)); j++) {
          args.add(tokens.get(j));
        }
        into.add(new Shown(where, args));
      }
    }
  }

  private static boolean isOperator(String token) {
    return token.equals("|") || token.equals("||") || token.equals("&&") || token.equals("&") || token.equals(";")
        || token.equals("(") || token.equals(")") || token.startsWith(">") || token.startsWith("2>");
  }

  /** Words as a shell splits them (quotes grouped and removed, operators on their own, comments dropped). */
  static List<String> shellTokens(String text) {
    List<String> tokens = new ArrayList<>();
    StringBuilder word = new StringBuilder();
    boolean inWord = false;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '\'' || c == '"') {
        int end = text.indexOf(c, i + 1);
        end = end < 0 ? text.length() : end;
        word.append(text, i + 1, end);
        inWord = true;
        i = end;
      } else if (Character.isWhitespace(c) || "|&;()".indexOf(c) >= 0) {
        if (inWord) {
          tokens.add(word.toString());
          word.setLength(0);
          inWord = false;
        }
        if (!Character.isWhitespace(c)) {
          boolean doubled = i + 1 < text.length() && text.charAt(i + 1) == c && (c == '|' || c == '&');
          tokens.add(doubled ? "" + c + c : "" + c);
          i += doubled ? 1 : 0;
        }
      } else if (c == '#' && !inWord) {
        break;
      } else {
        word.append(c);
        inWord = true;
      }
    }
    if (inWord) {
      tokens.add(word.toString());
    }
    return tokens;
  }

  /** The environment the README's {@code ./batchpilot worker} block sets, as printed. */
  private static Map<String, String> productionOneLiner() {
    String readme = String.join("\n", lines(ROOT.resolve("README.md")));
    Matcher block = Pattern.compile("```sh\n([\\s\\S]*?)\n```").matcher(readme);
    while (block.find()) {
      String command = block.group(1).replace("\\\n", " ");
      List<String> tokens = shellTokens(command);
      int worker = tokens.indexOf("worker");
      if (worker > 0 && tokens.get(worker - 1).endsWith("batchpilot")) {
        Map<String, String> env = new LinkedHashMap<>();
        for (String token : tokens.subList(0, worker - 1)) {
          int equals = token.indexOf('=');
          assertTrue(equals > 0, "not an assignment before the command: " + token);
          env.put(token.substring(0, equals), token.substring(equals + 1));
        }
        return env;
      }
    }
    throw new AssertionError("the README shows no `./batchpilot worker` code block");
  }
}
