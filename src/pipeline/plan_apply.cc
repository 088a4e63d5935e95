#include "pipeline/plan_apply.h"

#include <cerrno>

#include "io/dir_reader.h"

namespace ha_sync::pipeline {

using io::FileType;

namespace {

// What changed on one side, or "".
std::string SideChange(const char* side, const std::optional<PlanSide>& planned,
                       const io::Entry* now) {
  const std::string s = side;
  if (!planned && now == nullptr) return "";
  if (!planned) return "now exists in " + s;
  if (now == nullptr) return "no longer exists in " + s;
  if (planned->type != now->type) {
    return s + " is now a " + io::ToString(now->type) + " (was a " + io::ToString(planned->type) + ")";
  }
  switch (now->type) {
    case FileType::kDir:
      return "";
    case FileType::kSymlink:
      return planned->link_target == now->link_target ? "" : s + " symlink target changed";
    default:
      if (planned->size != now->size) {
        return s + " size changed (" + std::to_string(planned->size) + " -> " +
               std::to_string(now->size) + " bytes)";
      }
      if (planned->mtime_ns != now->mtime_ns) return s + " mtime changed";
      return "";
  }
}

}  // namespace

std::optional<OpKind> ChangeOf(ActionKind kind) {
  switch (kind) {
    case ActionKind::kCreateFile:
    case ActionKind::kCreateSymlink:
    case ActionKind::kCreateDir:
      return OpKind::kCreate;
    case ActionKind::kUpdateFile:
    case ActionKind::kHashThenUpdate:
    case ActionKind::kConflictCopy:
    case ActionKind::kUpdateSymlink:
      return OpKind::kUpdate;
    case ActionKind::kDelete:
    case ActionKind::kReplace:
      return OpKind::kDelete;
    default:
      return std::nullopt;
  }
}

std::string ChangedPrecondition(const PlanOp& op, const io::Entry* src_now,
                                const io::Entry* dest_now) {
  std::string why = SideChange("src", op.src, src_now);
  if (why.empty()) why = SideChange("dest", op.dest, dest_now);
  return why;
}

Status StatNow(int dir_fd, const std::string& name, const std::string& rel,
               std::optional<io::Entry>* out) {
  out->reset();
  if (dir_fd < 0) return Status::Ok();
  io::Entry e;
  Status s = io::StatEntry(dir_fd, name, rel, &e);
  if (!s.ok()) return s.err() == ENOENT ? Status::Ok() : s;
  *out = std::move(e);
  return Status::Ok();
}

}  // namespace ha_sync::pipeline
