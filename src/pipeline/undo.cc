#include "pipeline/undo.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <set>

#include "ha_sync/text.h"
#include "io/dir_reader.h"
#include "io/file_ops.h"
#include "io/unique_fd.h"
#include "pipeline/trash.h"

namespace ha_sync::pipeline {

namespace {

void Split(const std::string& rel, std::string* parent, std::string* name) {
  const size_t slash = rel.rfind('/');
  *parent = slash == std::string::npos ? "" : rel.substr(0, slash);
  *name = slash == std::string::npos ? rel : rel.substr(slash + 1);
}

// lstat of root/rel without following symlinks on the way.
bool StatBeneath(int root_fd, const std::string& rel, io::Entry* entry) {
  std::string parent, name;
  Split(rel, &parent, &name);
  auto fd = io::OpenDirBeneath(root_fd, parent);
  if (!fd.ok()) return false;
  const bool ok = io::StatEntry(*fd, name, rel, entry).ok();
  ::close(*fd);
  return ok;
}

bool AsLeft(const io::Entry& e, const UndoRecord& r) {
  if (e.type != r.type) return false;
  if (r.type == io::FileType::kDir) return true;
  return (r.type != io::FileType::kFile || e.size == r.size) && e.mtime_ns == r.mtime_ns;
}

// Opens (creating as needed) the directory root/rel.
Result<int> MakeDirsBeneath(int root_fd, const std::string& rel) {
  int fd = ::openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  size_t pos = 0;
  while (fd >= 0 && pos < rel.size()) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string::npos) slash = rel.size();
    const std::string part = rel.substr(pos, slash - pos);
    pos = slash + 1;
    if (::mkdirat(fd, part.c_str(), 0755) != 0 && errno != EEXIST) {
      const int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "mkdir", rel);
    }
    const int next = ::openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    ::close(fd);
    fd = next;
  }
  if (fd < 0) return Status::FromErrno(errno, "open directory", rel);
  return fd;
}

}  // namespace

std::string Describe(const UndoStep& s) {
  const std::string p = EscapeForDisplay(s.record.path);
  switch (s.kind) {
    case UndoStep::Kind::kRemoveCreated: return "remove created       " + p;
    case UndoStep::Kind::kRemoveCreatedDir: return "remove created dir   " + p + "/";
    case UndoStep::Kind::kRestoreFromTrash: return "restore from trash   " + p;
    case UndoStep::Kind::kRestoreConflictCopy: return "restore from " + EscapeForDisplay(s.from) + " -> " + p;
    case UndoStep::Kind::kRestoreMtime: return "restore mtime        " + p;
    case UndoStep::Kind::kRecreateDir: return "recreate dir         " + p + "/";
  }
  return p;
}

namespace {

// The "<stamp>-<run-id>" whose manifest is in dir_fd, or "".
std::string FindRunDirName(int dir_fd, const std::string& display, const std::string& run_id) {
  std::vector<io::Entry> entries;
  if (!io::ListDirectory(dir_fd, display, &entries).ok()) return "";
  const std::string suffix = "-" + run_id + ".undo.jsonl";
  for (const auto& e : entries) {
    if (e.name.size() > suffix.size() &&
        e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return e.name.substr(0, e.name.size() - std::string(".undo.jsonl").size());
    }
  }
  return "";
}

}  // namespace

Result<UndoPlan> PlanUndo(int dest_root_fd, const std::string& manifest_dir, const std::string& run_id) {
  UndoPlan plan;
  std::vector<UndoRecord> records;
  // The manifest is in the log directory; runs of older versions kept it in
  // the dest trash folder.
  std::string dir_display = manifest_dir;
  io::UniqueFd dir(::open(manifest_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) plan.run_dir_name = FindRunDirName(dir.get(), manifest_dir, run_id);
  if (plan.run_dir_name.empty()) {
    dir_display = kTrashDirName;
    dir.reset(::openat(dest_root_fd, kTrashDirName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (dir.get() >= 0) plan.run_dir_name = FindRunDirName(dir.get(), kTrashDirName, run_id);
  }
  if (plan.run_dir_name.empty()) {
    return Status::Error("no undo manifest for run '" + run_id + "' in '" + EscapeForDisplay(manifest_dir) +
                         "' nor in the destination's " + kTrashDirName +
                         " (wrong --dest, --pair or --log-dir, expired, or the run kept no trash)");
  }
  Status s = UndoManifest::Read(dir.get(), dir_display, UndoManifest::FileName(plan.run_dir_name), &records);
  if (!s.ok()) return s;
  // The run's trash folder exists only when the run moved something there.
  io::UniqueFd trash(::openat(dest_root_fd, kTrashDirName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  const int run_fd = trash.get() < 0 ? -1
                                      : ::openat(trash.get(), plan.run_dir_name.c_str(),
                                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  std::set<std::string> created;  // paths this run created (files and dirs)
  std::vector<UndoStep> dir_times;  // directory mtimes to put back, last
  std::set<std::string> consumed;  // conflict copies used to restore an update
  for (const auto& r : records) {
    if (r.op == OpKind::kCreate) created.insert(r.path);
  }
  auto refuse = [&](const UndoRecord& r, const std::string& why) {
    plan.refusals.push_back(EscapeForDisplay(r.path) + ": " + why);
  };
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    const UndoRecord& r = *it;
    io::Entry now;
    const bool exists = StatBeneath(dest_root_fd, r.path, &now);
    UndoStep step{UndoStep::Kind::kRemoveCreated, r, {}, 0};
    if (r.op == OpKind::kUpdate && r.type == io::FileType::kDir) {
      // A directory whose contents the run changed: its times go back after
      // everything inside it (each step changes them); only a time, so a
      // directory gone since is no reason to refuse.
      const std::string prev = r.previous.value_or("");
      if (exists && now.type == io::FileType::kDir && ParsePreviousMtime(prev, &step.old_mtime_ns)) {
        step.kind = UndoStep::Kind::kRestoreMtime;
        dir_times.push_back(std::move(step));
      }
      continue;
    }
    if (r.op == OpKind::kCreate) {
      if (consumed.count(r.path) != 0) continue;  // restored over its original name
      if (!exists) { refuse(r, "created by that run but gone since"); continue; }
      if (!AsLeft(now, r)) { refuse(r, "changed since that run"); continue; }
      if (r.type == io::FileType::kDir) {
        std::vector<io::Entry> children;
        auto fd = io::OpenDirBeneath(dest_root_fd, r.path);
        if (fd.ok()) {
          (void)io::ListDirectory(*fd, r.path, &children);
          ::close(*fd);
        }
        bool only_ours = true;
        for (const auto& c : children) only_ours = only_ours && created.count(r.path + "/" + c.name) != 0;
        if (!only_ours) { refuse(r, "directory holds files that run did not create"); continue; }
        step.kind = UndoStep::Kind::kRemoveCreatedDir;
      }
    } else if (r.op == OpKind::kUpdate) {
      if (!exists || !AsLeft(now, r)) { refuse(r, "changed since that run"); continue; }
      const std::string prev = r.previous.value_or("");
      if (prev == "trash") {
        io::Entry kept;
        if (run_fd < 0 || !StatBeneath(run_fd, r.path, &kept)) { refuse(r, "previous version is not in the trash"); continue; }
        step.kind = UndoStep::Kind::kRestoreFromTrash;
      } else if (prev.rfind("conflict:", 0) == 0) {
        step.kind = UndoStep::Kind::kRestoreConflictCopy;
        step.from = prev.substr(9);
        io::Entry copy;
        if (!StatBeneath(dest_root_fd, step.from, &copy)) { refuse(r, "its conflict copy is gone"); continue; }
        consumed.insert(step.from);
      } else if (ParsePreviousMtime(prev, &step.old_mtime_ns)) {
        step.kind = UndoStep::Kind::kRestoreMtime;

      } else {
        refuse(r, "no previous version was kept");
        continue;
      }
    } else {  // delete
      if (exists) { refuse(r, "deleted by that run but exists again"); continue; }
      if (r.type == io::FileType::kDir) {
        step.kind = UndoStep::Kind::kRecreateDir;
      } else {
        io::Entry kept;
        if (run_fd < 0 || !StatBeneath(run_fd, r.path, &kept)) { refuse(r, "not in the trash any more"); continue; }
        step.kind = UndoStep::Kind::kRestoreFromTrash;
      }
    }
    plan.steps.push_back(std::move(step));
  }
  for (UndoStep& step : dir_times) {
    if (created.count(step.record.path) == 0) plan.steps.push_back(std::move(step));
  }
  if (run_fd >= 0) ::close(run_fd);
  return plan;
}

Status ApplyUndo(int dest_root_fd, const UndoPlan& plan, const std::string& undo_run_dir_name,
                 const std::function<void(const OpRecord&)>& on_op) {
  if (!plan.refusals.empty()) return Status::Error("undo refused: paths changed since that run");
  Trash undo_trash(dest_root_fd, undo_run_dir_name);
  const std::string run_rel = std::string(kTrashDirName) + "/" + plan.run_dir_name;
  for (const UndoStep& step : plan.steps) {
    const UndoRecord& r = step.record;
    std::string parent, name;
    Split(r.path, &parent, &name);
    OpRecord op;
    op.filepath = r.path == "." ? r.path : r.type == io::FileType::kDir ? r.path + "/" : r.path;
    op.started_at_ms = NowMs();
    Status s;
    auto dest_parent = MakeDirsBeneath(dest_root_fd, parent);
    if (!dest_parent.ok()) return dest_parent.status();
    const int pfd = *dest_parent;
    switch (step.kind) {
      case UndoStep::Kind::kRemoveCreated:
        op.operation = OpKind::kDelete;
        op.size_before = r.size;
        s = undo_trash.MoveIn(pfd, r.path);
        break;
      case UndoStep::Kind::kRemoveCreatedDir:
        op.operation = OpKind::kDelete;
        s = io::RemoveEntry(pfd, name, true, r.path);
        break;
      case UndoStep::Kind::kRecreateDir:
        op.operation = OpKind::kCreate;
        if (::mkdirat(pfd, name.c_str(), 0755) != 0 && errno != EEXIST) s = Status::FromErrno(errno, "mkdir", r.path);
        break;
      case UndoStep::Kind::kRestoreMtime:
        op.operation = OpKind::kUpdate;
        s = io::SetTimes(pfd, name, step.old_mtime_ns, step.old_mtime_ns, r.path);
        break;
      case UndoStep::Kind::kRestoreConflictCopy: {
        op.operation = OpKind::kUpdate;
        std::string from_parent, from_name;
        Split(step.from, &from_parent, &from_name);
        s = undo_trash.LinkIn(pfd, r.path);
        if (s.ok() && ::renameat(pfd, from_name.c_str(), pfd, name.c_str()) != 0) {
          s = Status::FromErrno(errno, "restore conflict copy", step.from);
        }
        break;
      }
      case UndoStep::Kind::kRestoreFromTrash: {
        op.operation = r.op == OpKind::kDelete ? OpKind::kCreate : OpKind::kUpdate;
        auto from = io::OpenDirBeneath(dest_root_fd, parent.empty() ? run_rel : run_rel + "/" + parent);
        if (!from.ok()) { s = from.status(); break; }
        if (r.op == OpKind::kUpdate) s = undo_trash.LinkIn(pfd, r.path);
        if (s.ok() && ::renameat(*from, name.c_str(), pfd, name.c_str()) != 0) {
          s = Status::FromErrno(errno, "restore from trash", r.path);
        }
        ::close(*from);
        break;
      }
    }
    ::close(pfd);
    op.ended_at_ms = NowMs();
    if (!s.ok()) {
      op.status = OpStatus::kFail;
      op.error_message = s.message();
      on_op(op);
      return s;
    }
    on_op(op);
  }
  return Status::Ok();
}

}  // namespace ha_sync::pipeline
