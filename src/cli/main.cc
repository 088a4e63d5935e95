// ha-sync: one direction of one folder pair. See docs/cli.md.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "audit/fault_points.h"
#include "cli/apply_command.h"
#include "cli/bench_command.h"
#include "cli/options.h"
#include "cli/prune_db_command.h"
#include "cli/run.h"
#include "cli/undo_command.h"
#include "ha_sync/open_file_limit.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

void InstallSignalHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}
}  // namespace

// The one place ha-sync reads its environment; everything below gets it
// through this lookup or as values.
int main(int argc, char** argv) {
  using namespace ha_sync::cli;
  const ha_sync::EnvLookup env = [](const char* name) { return std::getenv(name); };
  // Test seam: kill the process at a named point of the audit flow.
  ha_sync::audit::ArmFaultPoint(env("HA_SYNC_FAULT_POINT"));
  ha_sync::RaiseOpenFileLimit();  // before any thread (open_file_limit.h)
  std::vector<std::string> args(argv, argv + argc);
  if (args.size() > 1 && args[1] == "undo") return RunUndoCommand(args);
  if (args.size() > 1 && args[1] == "prune-db") {
    return RunPruneDbCommand(args, env("HA_SYNC_DB_DSN"));
  }
  if (args.size() > 1 && args[1] == "approve") return RunApproveCommand(args, env);
  if (args.size() > 1 && args[1] == "apply") {
    InstallSignalHandlers();
    return RunApplyCommand(args, env, &g_stop);
  }
  ParseResult parsed = ParseOptions(args, env);
  if (!parsed.error.empty()) {
    std::fprintf(stderr, "ha-sync: %s\nTry 'ha-sync --help'.\n", parsed.error.c_str());
    return kExitUsage;
  }
  if (parsed.options.show_help) {
    std::printf("%s", parsed.help.c_str());
    return kExitOk;
  }
  if (parsed.options.show_version) {
    std::printf("ha-sync %s\n", HA_SYNC_VERSION);
    return kExitOk;
  }
  InstallSignalHandlers();
  if (parsed.options.bench) return RunBench(parsed.options, &g_stop);
  return RunSync(parsed.options, &g_stop, env);
}
