#include "pipeline/planner.h"

namespace ha_sync::pipeline {

using io::Entry;
using io::FileType;

const char* ToString(ActionKind kind) {
  switch (kind) {
    case ActionKind::kInSync: return "in-sync";
    case ActionKind::kDestNewer: return "dest-newer";
    case ActionKind::kCreateFile: return "create-file";
    case ActionKind::kUpdateFile: return "update-file";
    case ActionKind::kHashThenUpdate: return "hash-then-update";
    case ActionKind::kCreateSymlink: return "create-symlink";
    case ActionKind::kUpdateSymlink: return "update-symlink";
    case ActionKind::kCreateDir: return "create-dir";
    case ActionKind::kDescend: return "descend";
    case ActionKind::kConflict: return "conflict";
    case ActionKind::kDelete: return "delete";
    case ActionKind::kReplace: return "replace";
    case ActionKind::kLeaveDestOnly: return "leave-dest-only";
    case ActionKind::kRemoveStaleTemp: return "remove-stale-temp";
    case ActionKind::kIgnoreSourceTemp: return "ignore-source-temp";
    case ActionKind::kSkipSpecial: return "skip-special";
  }
  return "?";
}

namespace {

Action Make(ActionKind kind, const Entry* src, const Entry* dest, std::string reason = {}) {
  return Action{kind, src, dest, std::move(reason)};
}

Action PlanSourceOnly(const Entry& s) {
  switch (s.type) {
    case FileType::kFile: return Make(ActionKind::kCreateFile, &s, nullptr);
    case FileType::kSymlink: return Make(ActionKind::kCreateSymlink, &s, nullptr);
    case FileType::kDir: return Make(ActionKind::kCreateDir, &s, nullptr);
    case FileType::kOther: break;
  }
  return Make(ActionKind::kSkipSpecial, &s, nullptr, "special file (fifo, socket or device) skipped");
}

Action PlanBoth(const Entry& s, const Entry& d, const PlanOptions& o) {
  if (s.type == FileType::kOther) {
    return Make(ActionKind::kSkipSpecial, &s, &d, "special file (fifo, socket or device) skipped");
  }
  if (s.type != d.type) {
    if (o.delete_missing) return Make(ActionKind::kReplace, &s, &d);
    return Make(ActionKind::kConflict, &s, &d,
                std::string("conflict: source is a ") + io::ToString(s.type) +
                    ", destination is a " + io::ToString(d.type) +
                    "; left unchanged (use --delete-missing to make dest match)");
  }
  if (s.type == FileType::kDir) return Make(ActionKind::kDescend, &s, &d);

  const int64_t diff = s.mtime_ns - d.mtime_ns;
  const bool same_time = diff <= o.threshold_ns && diff >= -o.threshold_ns;
  if (s.type == FileType::kSymlink) {
    if (s.link_target == d.link_target) return Make(ActionKind::kInSync, &s, &d);
    if (same_time) {
      return Make(ActionKind::kConflict, &s, &d,
                  "conflict: symlink targets differ but mtimes are equal; left unchanged");
    }
    return Make(diff > 0 ? ActionKind::kUpdateSymlink : ActionKind::kDestNewer, &s, &d);
  }
  // Both regular files.
  if (same_time) {
    if (s.size == d.size) return Make(ActionKind::kInSync, &s, &d);
    return Make(ActionKind::kConflict, &s, &d,
                "conflict: equal mtime but size differs (source " + std::to_string(s.size) +
                    " bytes, destination " + std::to_string(d.size) +
                    " bytes); left unchanged, resolve by hand");
  }
  if (diff < 0) return Make(ActionKind::kDestNewer, &s, &d);
  if (s.size != d.size) return Make(ActionKind::kUpdateFile, &s, &d);
  return Make(ActionKind::kHashThenUpdate, &s, &d);
}

}  // namespace

std::vector<Action> PlanDirectory(const std::vector<Entry>& src, const std::vector<Entry>& dest,
                                  const PlanOptions& options) {
  std::vector<Action> plan;
  plan.reserve(src.size() + dest.size());
  size_t i = 0, j = 0;
  while (i < src.size() || j < dest.size()) {
    const Entry* s = i < src.size() ? &src[i] : nullptr;
    const Entry* d = j < dest.size() ? &dest[j] : nullptr;
    int cmp;
    if (s == nullptr) cmp = 1;
    else if (d == nullptr) cmp = -1;
    else cmp = s->name.compare(d->name);

    if (cmp < 0) {  // source only
      ++i;
      plan.push_back(io::IsSyncTempName(s->name) ? Make(ActionKind::kIgnoreSourceTemp, s, nullptr)
                                                 : PlanSourceOnly(*s));
    } else if (cmp > 0) {  // dest only
      ++j;
      if (io::IsSyncTempName(d->name)) {
        plan.push_back(Make(ActionKind::kRemoveStaleTemp, nullptr, d));
      } else {
        plan.push_back(Make(options.delete_missing ? ActionKind::kDelete
                                                   : ActionKind::kLeaveDestOnly,
                            nullptr, d));
      }
    } else {
      ++i;
      ++j;
      if (io::IsSyncTempName(s->name)) {
        plan.push_back(Make(ActionKind::kIgnoreSourceTemp, s, nullptr));
        plan.push_back(Make(ActionKind::kRemoveStaleTemp, nullptr, d));
      } else {
        plan.push_back(PlanBoth(*s, *d, options));
      }
    }
  }
  return plan;
}

}  // namespace ha_sync::pipeline
