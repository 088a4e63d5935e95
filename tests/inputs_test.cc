// Every input checked (issue 13), on the built programs: ha-sync-ui refuses
// empty or unusable authentication instead of serving open, the ha-sync
// subcommands refuse empty values, and every `--flag` the documentation
// names is one the programs' --help lists.
//
// Environment (set by meson): HA_SYNC_BIN, HA_SYNC_UI_BIN, HA_SYNC_SOURCE_DIR.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "sync_harness.h"

namespace ha_sync::test {
namespace {

// Runs ha-sync-ui; one that is still running after 10 s (it started
// serving) is stopped with SIGTERM, so a wrongly open UI fails the test
// instead of hanging it.
RunOutput RunUi(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  std::vector<std::string> all = {"--listen", "127.0.0.1:0", "--log-dir", "/nonexistent-ha-sync"};
  all.insert(all.end(), args.begin(), args.end());
  Running r = StartProgram("HA_SYNC_UI_BIN", all, env);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    siginfo_t info{};
    // WNOWAIT: only look; Wait() below reaps it and collects its output.
    if (::waitid(P_PID, static_cast<id_t>(r.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == r.pid) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(r.pid, SIGTERM);  // no effect when it has exited (a zombie until Wait)
  return Wait(r);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("ha-sync-ui: empty or unusable auth exits 64 and never serves") {
  TempDir t;
  WriteFile(t / "empty", "");
  WriteFile(t / "comments", "# nobody yet\n\n");
  WriteFile(t / "malformed", "ops-without-password\n");
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    const char* expect;
  } cases[] = {
      {{"--auth-file", ""}, {}, "--auth-file was given an empty value"},
      {{"--auth-file="}, {}, "--auth-file"},
      {{}, {"HA_SYNC_UI_BASIC_AUTH="}, "HA_SYNC_UI_BASIC_AUTH is set but empty"},
      {{}, {"HA_SYNC_UI_BASIC_AUTH=\n\n"}, "HA_SYNC_UI_BASIC_AUTH holds no user:password line"},
      {{"--auth-file", t / "empty"}, {}, "holds no user:password line"},
      {{"--auth-file", t / "comments"}, {}, "holds no user:password line"},
      {{"--auth-file", t / "malformed"}, {}, "line 1: expected user:password"},
      {{"--auth-file", t / "missing"}, {}, "No such file"},
      {{"--auth-file", t.path()}, {}, "auth file"},
      {{"--threads", ""}, {}, "--threads was given an empty value"},
      {{"--stale-after", ""}, {}, "--stale-after was given an empty value"},
      {{"--db-dsn", ""}, {}, "--db-dsn was given an empty value"},
      {{"--help=perhaps"}, {}, "--help takes no value"},
  };
  for (const Case& c : cases) {
    RunOutput r = RunUi(c.args, c.env);
    INFO(std::string(c.expect), ": ", r.err);
    CHECK(r.exit_code == 64);
    CHECK(r.err.rfind("ha-sync-ui: ", 0) == 0);
    CHECK(r.err.find(c.expect) != std::string::npos);
    CHECK(r.out.find("serving on") == std::string::npos);
  }
}

TEST_CASE("ha-sync-ui: with credentials it serves with basic auth; without, it warns") {
  TempDir t;
  WriteFile(t / "users", "ops:pw\n");
  for (const auto& [args, env] :
       std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>>{
           {{"--auth-file", t / "users"}, {}}, {{}, {"HA_SYNC_UI_BASIC_AUTH=ops:pw"}}}) {
    RunOutput r = RunUi(args, env);
    INFO(r.err);
    CHECK(r.exit_code == 0);  // stopped by SIGTERM after serving
    CHECK(r.out.find("serving on") != std::string::npos);
    CHECK(r.out.find("basic auth") != std::string::npos);
    CHECK(r.err.find("warning") == std::string::npos);
  }
  // Without credentials it serves (the documented default) and says so.
  RunOutput open = RunUi({});
  CHECK(open.exit_code == 0);
  CHECK(open.out.find("basic auth") == std::string::npos);
  CHECK(open.err.find("ha-sync-ui: warning: no authentication: anyone who can reach 127.0.0.1:") !=
        std::string::npos);
}

TEST_CASE("subcommands refuse empty values and take =true|false switches") {
  TempDir t;
  MakeDirs(t / "dest");
  struct Case {
    std::vector<std::string> args;
    const char* expect;
  } cases[] = {
      {{"prune-db", "--older-than-days", ""}, "--older-than-days was given an empty value"},
      {{"apply", "--plan", ""}, "--plan was given an empty value"},
      {{"approve", "--plan", "1", "--by", ""}, "--by was given an empty value"},
      {{"apply", "--plan", "1", "--plan-max-age", ""}, "--plan-max-age was given an empty value"},
      {{"apply", "--plan", "1", "--plan-max-age", "0"}, "--plan-max-age must be"},
      {{"apply", "--plan", "1", "--src", t / "src", "--dest", t / "dest", "--pair", "p", "--log-dir", ""},
       "--log-dir was given an empty value"},
      {{"prune-db", "--older-than-days", "30", "--db-dsn", ""}, "--db-dsn was given an empty value"},
      {{"prune-db", "--older-than-days", "30", "--log-dir", ""}, "--log-dir was given an empty value"},
      {{"prune-db", "--older-than-days", "0"}, "--older-than-days must be a whole number of days"},
      {{"undo", "--dest", "", "--pair", "p", "--run-id", "ab"}, "--dest was given an empty value"},
      {{"undo", "--dest", t / "dest", "--pair", "p", "--run-id", ""}, "--run-id was given an empty value"},
      {{"undo", "--dest", t / "dest", "--pair", "p", "--run-id", "ab", "--apply=maybe"},
       "--apply takes no value"},
      {{"undo", "--dest", t / "dest", "--pair", "p", "--run-id", "ab", "--log-dir", ""},
       "--log-dir was given an empty value"},
  };
  for (const Case& c : cases) {
    RunOutput r = RunHaSync(c.args, {"HA_SYNC_DB_DSN=sqlite://" + t / "env.db"});
    INFO(std::string(c.expect), ": ", r.err);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find(c.expect) != std::string::npos);
  }
  CHECK_FALSE(Exists(t / "env.db"));
  // --apply=false plans only: nothing to undo for an unknown run is an error
  // of the run (exit 1), not of the command line.
  RunOutput plan = RunHaSync({"undo", "--dest", t / "dest", "--pair", "p", "--run-id", "ab",
                              "--apply=false", "--log-dir", t / "log"});
  CHECK(plan.exit_code != 64);
}

namespace {

// The long flags `--help` lists: option lines start with two spaces.
std::set<std::string> HelpFlags(const std::vector<std::string>& args, const char* bin_env) {
  RunOutput r = Wait(StartProgram(bin_env, args));
  REQUIRE(r.exit_code == 0);
  std::set<std::string> flags;
  static const std::regex kOption("^  --([a-z0-9][a-z0-9-]*)");
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, kOption)) flags.insert(m[1]);
  }
  REQUIRE(flags.count("help") == 1);
  return flags;
}

// Flags of other tools that the guides quote, each with the tool whose
// command line it must be on.
const std::map<std::string, std::string> kOtherTools = {
    {"from", "kubectl"},    {"from-literal", "kubectl"}, {"rm", "kubectl"},
    {"restart", "kubectl"}, {"image", "kubectl"},        {"overrides", "kubectl"},
    {"type", "kubectl"},    {"tls-verify", "podman"},    {"prefix", "npm"},
    {"suite", "meson"},     {"transfers", "rclone"},
};

}  // namespace

// The flag lists come from the built programs, so a flag added or removed in
// the code is checked without editing this test.
TEST_CASE("every --flag in README.md and docs/*.md is a flag of the programs") {
  const char* src_env = std::getenv("HA_SYNC_SOURCE_DIR");
  REQUIRE(src_env != nullptr);
  const std::string root = src_env;
  std::map<std::string, std::set<std::string>> programs = {
      {"ha-sync", HelpFlags({"--help"}, "HA_SYNC_BIN")},
      {"ha-sync undo", HelpFlags({"undo", "--help"}, "HA_SYNC_BIN")},
      {"ha-sync apply", HelpFlags({"apply", "--help"}, "HA_SYNC_BIN")},
      {"ha-sync approve", HelpFlags({"approve", "--help"}, "HA_SYNC_BIN")},
      {"ha-sync prune-db", HelpFlags({"prune-db", "--help"}, "HA_SYNC_BIN")},
      {"ha-sync-ui", HelpFlags({"--help"}, "HA_SYNC_UI_BIN")},
  };
  std::set<std::string> any;
  for (const auto& [name, flags] : programs) any.insert(flags.begin(), flags.end());
  REQUIRE(programs["ha-sync"].count("max-delete") == 1);
  REQUIRE(programs["ha-sync-ui"].count("auth-file") == 1);

  std::vector<std::string> files = {"README.md"};
  for (const auto& entry : std::filesystem::directory_iterator(root + "/docs")) {
    if (entry.path().extension() == ".md") files.push_back("docs/" + entry.path().filename().string());
  }
  REQUIRE(files.size() > 5);
  // A program invocation: its name (after a path, `, ( or a space) and a space.
  static const std::regex kInvocation(
      R"((^|[\s`(/])(ha-sync-ui|ha-sync undo|ha-sync prune-db|ha-sync apply|ha-sync approve|ha-sync)(?=\s))");
  static const std::regex kFlag(R"(--([a-zA-Z][a-zA-Z0-9-]*)(\*)?)");
  size_t checked = 0;
  for (const std::string& file : files) {
    const std::string text = Slurp(root + "/" + file);
    REQUIRE_FALSE(text.empty());
    std::istringstream lines(text);
    std::string command;  // the program or tool of a line continued with '\'
    int line_no = 0;
    for (std::string line; std::getline(lines, line);) {
      ++line_no;
      std::smatch inv;
      std::string program = command;
      size_t program_at = 0;
      if (std::regex_search(line, inv, kInvocation)) {
        program = inv[2];
        program_at = static_cast<size_t>(inv.position(2));
      }
      for (auto it = std::sregex_iterator(line.begin(), line.end(), kFlag); it != std::sregex_iterator();
           ++it) {
        const std::string flag = (*it)[1];
        const bool prefix = (*it)[2].matched;  // "`--kube-*` flags"
        INFO(file, ":", line_no, ": --", flag, " in: ", line);
        ++checked;
        if (auto other = kOtherTools.find(flag); other != kOtherTools.end() &&
                                                 (line.find(other->second) != std::string::npos ||
                                                  command == other->second)) {
          continue;
        }
        const std::set<std::string>& known =
            !program.empty() && static_cast<size_t>(it->position()) > program_at &&
                    programs.count(program) != 0
                ? programs[program]
                : any;
        bool found = known.count(flag) != 0;
        if (prefix) {
          for (const std::string& k : known) found = found || k.rfind(flag, 0) == 0;
        }
        CHECK_MESSAGE(found, "unknown flag --" << flag);
      }
      // A trailing backslash continues the command on the next line.
      if (!line.empty() && line.back() == '\\') {
        if (command.empty()) {
          command = !inv.empty() ? std::string(inv[2]) : std::string();
          for (const auto& [flag, tool] : kOtherTools) {
            if (command.empty() && line.find(tool) != std::string::npos) command = tool;
          }
        }
      } else {
        command.clear();
      }
    }
  }
  CHECK(checked > 100);
}

}  // namespace ha_sync::test
