#include "cli/undo_command.h"

#include <unistd.h>

#include <cstdio>

#include "audit/opslog_writer.h"
#include "cli/options.h"
#include "cli/run.h"
#include "ha_sync/canonical_path.h"
#include "ha_sync/flag_table.h"
#include "ha_sync/text.h"
#include "io/file_lock.h"
#include "io/file_ops.h"
#include "pipeline/trash.h"
#include "pipeline/undo.h"
#include "pipeline/undo_manifest.h"

namespace ha_sync::cli {

namespace {

void PrintRefusals(const pipeline::UndoPlan& plan, const std::string& dest, const std::string& run_id) {
  if (!plan.missing_trash.empty()) {
    std::fprintf(stderr,
                 "ha-sync undo: refused, nothing changed: %zu version(s) that run %s kept in its trash "
                 "are missing:\n",
                 plan.missing_trash.size(), run_id.c_str());
    for (const auto& m : plan.missing_trash) std::fprintf(stderr, "  %s\n", m.c_str());
    std::fprintf(stderr,
                 "ha-sync undo: hint: is --dest the destination that run wrote to? Its trash folder '%s/%s/%s' "
                 "may have been purged (runs remove trash older than --trash-retain-days) or changed by hand; "
                 "undo never puts anything else in place of a missing version.\n",
                 EscapeForDisplay(dest).c_str(), pipeline::kTrashDirName, plan.run_dir_name.c_str());
  }
  if (!plan.refusals.empty()) {
    std::fprintf(stderr, "ha-sync undo: refused, nothing changed: %zu path(s) of run %s cannot be undone:\n",
                 plan.refusals.size(), run_id.c_str());
    for (const auto& r : plan.refusals) std::fprintf(stderr, "  %s\n", r.c_str());
  }
}

}  // namespace

int RunUndoCommand(const std::vector<std::string>& args) {
  std::string dest, pair, run_id, log_dir = "/var/log/ha-sync";
  bool apply = false, help = false;
  FlagTable t(
      "Usage: ha-sync undo --dest DIR --pair NAME --run-id ID [--log-dir DIR] [--apply]\n\n"
      "Reverts one earlier run in its destination: restores what it deleted or\n"
      "overwrote (from the trash) and removes what it created, only where dest is\n"
      "still as that run left it. Prints the plan unless --apply is given.\n\nOptions");
  t.Text("dest", "DIR", "the destination of the run to undo", &dest)
      .Text("pair", "NAME", "the pair (its lock is taken)", &pair)
      .Text("run-id", "ID", "the run to undo (opslog header, dashboard)", &run_id)
      .Text("log-dir", "DIR", "opslog, lock and undo manifest directory, as given to the run (default: /var/log/ha-sync)", &log_dir)
      .Switch("apply", "do it (default: only print the plan)", &apply)
      .Switch("help", "print this help", &help);
  if (std::string e = t.Parse(std::vector<std::string>(args.begin() + 2, args.end())); !e.empty()) {
    std::fprintf(stderr, "ha-sync undo: %s\nTry 'ha-sync undo --help'.\n", e.c_str());
    return kExitUsage;
  }
  if (help) {
    std::printf("%s", t.Help().c_str());
    return kExitOk;
  }
  std::string error;
  if (dest.empty() || dest[0] != '/') error = "--dest must be an absolute path";
  else if (!IsValidPairName(pair)) error = "--pair must be a lowercase DNS name";
  else if (run_id.empty() || run_id.find_first_not_of("0123456789abcdef") != std::string::npos) error = "--run-id must be the hex run id of a run";
  else if (log_dir.empty() || log_dir[0] != '/') error = "--log-dir must be an absolute path";
  if (!error.empty()) {
    std::fprintf(stderr, "ha-sync undo: %s\nTry 'ha-sync undo --help'.\n", error.c_str());
    return kExitUsage;
  }
  auto root = io::OpenRoot(dest);
  if (!root.ok()) {
    std::fprintf(stderr, "ha-sync undo: %s\n", root.status().message().c_str());
    return kExitFailed;
  }
  const int dest_fd = *root;
  char id[33];
  std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(io::RandomU64()),
                static_cast<unsigned long long>(io::RandomU64()));
  io::FileLock lock(log_dir, pair, id);
  const auto acquired = lock.Acquire();
  if (acquired.outcome != RunLock::Outcome::kAcquired) {
    std::fprintf(stderr, "ha-sync undo: pair '%s' is busy or its lock is unusable: %s\n", pair.c_str(),
                 acquired.outcome == RunLock::Outcome::kHeldByOther ? acquired.holder.c_str()
                                                                    : acquired.status.message().c_str());
    ::close(dest_fd);
    return kExitFailed;
  }
  auto plan = pipeline::PlanUndo(dest_fd, pipeline::UndoManifest::Dir(log_dir, pair), run_id);
  if (!plan.ok()) {
    std::fprintf(stderr, "ha-sync undo: %s\n", plan.status().message().c_str());
    ::close(dest_fd);
    return kExitFailed;
  }
  // The other side of a two-way pair shares the pair's manifests: an undo
  // there would remove the originals the run copied from.
  if (!plan->run_dest_root.empty() && CanonicalPath(plan->run_dest_root) != CanonicalPath(dest)) {
    std::fprintf(stderr,
                 "ha-sync undo: run %s synced into '%s', not into --dest '%s': undo it where it ran; "
                 "nothing was undone\n",
                 run_id.c_str(), EscapeForDisplay(plan->run_dest_root).c_str(), EscapeForDisplay(dest).c_str());
    ::close(dest_fd);
    return kExitFailed;
  }
  // Every refusal comes before the first plan or action line, so an undo
  // never prints part of a plan and then refuses.
  if (plan->refused()) {
    PrintRefusals(*plan, dest, run_id);
    ::close(dest_fd);
    return kExitFailed;
  }
  if (!apply) {
    for (const auto& step : plan->steps) std::printf("would %s\n", pipeline::Describe(step).c_str());
    std::printf("ha-sync undo: %zu step(s) planned; run again with --apply to do them\n", plan->steps.size());
    ::close(dest_fd);
    return kExitOk;
  }
  RunHeader header;
  header.run_id = id;
  header.pair = pair;
  header.direction = kUndoDirection;
  header.src = dest + "/" + pipeline::kTrashDirName + "/" + plan->run_dir_name;
  header.dest = dest;
  header.started_at_ms = NowMs();
  auto opslog = audit::OpslogWriter::Create(log_dir, header);
  if (!opslog.ok()) {
    std::fprintf(stderr, "ha-sync undo: %s\n", opslog.status().message().c_str());
    ::close(dest_fd);
    return kExitFailed;
  }
  RunFooter footer;
  // Each action line is printed once its step is done.
  Status s = pipeline::ApplyUndo(
      dest_fd, *plan, pipeline::Trash::Stamp(header.started_at_ms) + "-" + id,
      [&](const OpRecord& op) {
        footer.counts.Add(op);
        (void)(*opslog)->AppendOp(op);
      },
      [](const pipeline::UndoStep& step) { std::printf("%s\n", pipeline::Describe(step).c_str()); });
  footer.ended_at_ms = NowMs();
  footer.status = s.ok() ? RunStatus::kSuccess : RunStatus::kFailed;
  if (!s.ok()) footer.error_message = s.message();
  (void)(*opslog)->Finish(footer);
  ::close(dest_fd);
  if (!s.ok()) {
    std::fprintf(stderr, "ha-sync undo: %s\n", s.message().c_str());
    return kExitFailed;
  }
  std::printf("ha-sync undo: run %s undone (%zu step(s)); this undo is run %s\n", run_id.c_str(),
              plan->steps.size(), id);
  return kExitOk;
}

}  // namespace ha_sync::cli
