#include "pipeline/root_guard.h"

#include <unistd.h>

#include <algorithm>
#include <limits>

#include "ha_sync/op_record.h"
#include "ha_sync/text.h"
#include "io/dir_reader.h"
#include "io/file_ops.h"
#include "io/unique_fd.h"
#include "pipeline/planner.h"
#include "pipeline/run_context.h"
#include "pipeline/sync_state.h"

namespace ha_sync::pipeline {

namespace {

// The root's entries that count as content (see the header).
Status ListRootContent(int root_fd, const std::string& display, const std::vector<std::string>& excluded,
                       std::vector<io::Entry>* out) {
  std::vector<io::Entry> all;
  Status s = io::ListDirectory(root_fd, display, &all);
  if (!s.ok()) return s;
  for (io::Entry& e : all) {
    if (!IsReservedName(e.name, true) && !IsExcluded(excluded, e.name)) out->push_back(std::move(e));
  }
  return Status::Ok();
}

size_t CountPresent(const std::vector<StateEntry>& known, const std::vector<io::Entry>& listing) {
  size_t n = 0;
  for (const StateEntry& k : known) {
    n += std::any_of(listing.begin(), listing.end(),
                     [&](const io::Entry& e) { return e.name == k.name; })
             ? 1
             : 0;
  }
  return n;
}

Status Refuse(const EngineOptions& o, const std::string& why) {
  return Status::Error("refusing to run pair '" + o.pair + "': " + why +
                       "; nothing was touched (is the share mounted? if this is intended, rerun "
                       "with --max-delete-percent 100)");
}

// The state's record of the root, without ha-sync's own names; empty when
// the pair has no state. For a shard, the record of every shard of its
// group together: a shard alone must not decide that the share is gone.
Result<std::vector<StateEntry>> KnownAtRoot(const EngineOptions& o) {
  std::vector<StateEntry> known;
  std::vector<std::string> paths = o.guard_state_paths;
  if (paths.empty() && !o.state_path.empty()) paths.push_back(o.state_path);
  bool found = false;
  for (const std::string& path : paths) {
    auto reader = StateReader::Open(path);
    // Unreadable is not missing: without the state the guards below would
    // be off (the engine refuses the run for it too).
    if (!reader.ok()) return Status::Error(reader.status().message() + "; nothing was touched");
    if (*reader == nullptr) continue;
    found = true;
    std::vector<StateEntry> part;
    Status s = (*reader)->LoadDir("", &part);
    if (!s.ok()) return s;
    known.insert(known.end(), part.begin(), part.end());
  }
  if (!found && !o.state_fallback_path.empty()) {
    auto reader = StateReader::Open(o.state_fallback_path);
    if (!reader.ok()) return Status::Error(reader.status().message() + "; nothing was touched");
    if (*reader != nullptr) {
      Status s = (*reader)->LoadDir("", &known);
      if (!s.ok()) return s;
    }
  }
  known.erase(std::remove_if(known.begin(), known.end(),
                             [&](const StateEntry& e) {
                               return IsReservedName(e.name, true) || IsExcluded(o.excluded, e.name);
                             }),
              known.end());
  return known;
}

}  // namespace

Result<bool> HoldsContent(int dir_fd, const std::string& rel, const std::vector<std::string>& excluded,
                          int64_t settled_before_ns) {
  std::vector<io::Entry> entries;
  Status s = io::ListDirectory(dir_fd, rel.empty() ? "." : rel, &entries);
  if (!s.ok()) return s;
  for (const io::Entry& e : entries) {
    const std::string child = JoinRel(rel, e.name);
    if (IsReservedName(e.name, rel.empty()) || IsExcluded(excluded, child)) continue;
    if ((e.type == io::FileType::kFile || e.type == io::FileType::kSymlink) && e.mtime_ns <= settled_before_ns) {
      return true;
    }
  }
  for (const io::Entry& e : entries) {
    const std::string child = JoinRel(rel, e.name);
    if (e.type != io::FileType::kDir || IsReservedName(e.name, rel.empty()) || IsExcluded(excluded, child)) {
      continue;
    }
    // A directory that cannot be read may hold anything: count it as
    // content (the run's scan fails on it too, and then deletes nothing).
    auto fd = io::OpenChildDir(dir_fd, e.name, child);
    if (!fd.ok()) return true;
    auto holds = HoldsContent(*fd, child, excluded, settled_before_ns);
    ::close(*fd);
    if (!holds.ok() || *holds) return true;
  }
  return false;
}

Status CheckRoots(const EngineOptions& o) {
  auto src = io::OpenRoot(o.src_root);
  if (!src.ok()) return src.status();
  io::UniqueFd src_fd(*src);
  auto dest = io::OpenRoot(o.dest_root);
  if (!dest.ok()) return dest.status();
  io::UniqueFd dest_fd(*dest);
  if (o.max_vanished_percent >= 100) return Status::Ok();

  std::vector<io::Entry> src_root, dest_root;
  Status s = ListRootContent(src_fd.get(), o.src_root, o.excluded, &src_root);
  if (s.ok()) s = ListRootContent(dest_fd.get(), o.dest_root, o.excluded, &dest_root);
  if (!s.ok()) return s;

  auto known = KnownAtRoot(o);
  if (!known.ok()) return known.status();
  const size_t n_known = known->size();
  if (n_known > 0 && CountPresent(*known, dest_root) == 0) {
    return Refuse(o, "destination '" + EscapeForDisplay(o.dest_root) + "' has none of the " +
                         std::to_string(n_known) + " entries the sync state knows at its root");
  }
  if (!o.plan.delete_missing) return Status::Ok();
  if (n_known > 0 && CountPresent(*known, src_root) == 0) {
    return Refuse(o, "source '" + EscapeForDisplay(o.src_root) + "' has none of the " +
                         std::to_string(n_known) +
                         " entries the sync state knows at its root, and --delete-missing is set");
  }
  if (dest_root.empty()) return Status::Ok();
  // A file still settling (--min-age) is not synced by this run, so it is
  // not content either: one new file in an unmounted mount point must not
  // let the run delete what dest holds.
  const int64_t settled_before_ns = o.plan.min_age_ns > 0 ? NowMs() * 1000000 - o.plan.min_age_ns
                                                          : std::numeric_limits<int64_t>::max();
  auto holds = HoldsContent(src_fd.get(), "", o.excluded, settled_before_ns);
  if (!holds.ok()) return holds.status();
  if (!*holds) {
    return Refuse(o, "source '" + EscapeForDisplay(o.src_root) +
                         "' holds no file (only ha-sync's own, excluded, settling (--min-age) or empty "
                         "directories) while "
                         "destination '" + EscapeForDisplay(o.dest_root) + "' holds " +
                         std::to_string(dest_root.size()) + " entries, and --delete-missing is set");
  }
  return Status::Ok();
}

}  // namespace ha_sync::pipeline
