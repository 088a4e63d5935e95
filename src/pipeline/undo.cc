#include "pipeline/undo.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "ha_sync/join_rel.h"
#include "ha_sync/text.h"
#include "io/dir_reader.h"
#include "io/file_ops.h"
#include "io/unique_fd.h"
#include "pipeline/trash.h"

namespace ha_sync::pipeline {

namespace {

// lstat of root/rel without following symlinks on the way.
Status StatBeneath(int root_fd, const std::string& rel, io::Entry* entry) {
  std::string parent, name;
  SplitRel(rel, &parent, &name);
  auto fd = io::OpenDirBeneath(root_fd, parent);
  if (!fd.ok()) return fd.status();
  io::UniqueFd dir(*fd);
  return io::StatEntry(dir.get(), name, parent, entry);
}

// Whether a failed StatBeneath means "nothing there" (rather than "cannot tell").
bool IsAbsent(const Status& s) { return s.err() == ENOENT || s.err() == ENOTDIR; }

bool AsLeft(const io::Entry& e, const UndoRecord& r) {
  if (e.type != r.type) return false;
  if (r.type == io::FileType::kDir) return true;
  return (r.type != io::FileType::kFile || e.size == r.size) && e.mtime_ns == r.mtime_ns;
}

const char* TypeWord(io::FileType t) {
  switch (t) {
    case io::FileType::kDir: return "directory";
    case io::FileType::kSymlink: return "symlink";
    case io::FileType::kFile: return "file";
    default: return "special file";
  }
}

}  // namespace

std::string Describe(const UndoStep& s) {
  const std::string p = EscapeForDisplay(s.record.path);
  const bool dir = s.record.type == io::FileType::kDir;
  switch (s.kind) {
    case UndoStep::Kind::kRemoveCreated: return "remove created       " + p;
    case UndoStep::Kind::kRemoveCreatedDir: return "remove created dir   " + p + "/";
    case UndoStep::Kind::kRestoreFromTrash: return "restore from trash   " + p;
    case UndoStep::Kind::kRestoreConflictCopy: return "restore from " + EscapeForDisplay(s.from) + " -> " + p;
    case UndoStep::Kind::kRestoreMtime: return "restore mtime        " + p;
    case UndoStep::Kind::kRecreateDir: return "recreate dir         " + p + "/";
    case UndoStep::Kind::kSetAside: return "set aside            " + p + (dir ? "/" : "");
    case UndoStep::Kind::kReleaseAside:
      return dir ? "remove set-aside dir " + p + "/" : "trash set-aside      " + p;
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

// Turns a manifest, newest record first, into the steps that revert it.
class UndoPlanner {
 public:
  UndoPlanner(int dest_root_fd, int run_trash_fd, int run_trash_err, UndoPlan* plan)
      : root_(dest_root_fd), run_trash_(run_trash_fd), run_trash_err_(run_trash_err), plan_(plan) {}

  void Plan(const std::vector<UndoRecord>& records) {
    for (size_t i = 0; i < records.size(); ++i) {
      if (records[i].op == OpKind::kCreate) created_.insert(records[i].path);
      if (records[i].op == OpKind::kDelete) deleted_.insert(records[i].path);
    }
    for (auto it = records.rbegin(); it != records.rend(); ++it) {
      const UndoRecord& r = *it;
      io::Entry now;
      const Status stat = StatBeneath(root_, r.path, &now);
      if (!stat.ok() && !IsAbsent(stat)) {
        Refuse(r, "cannot be checked: " + stat.message());
        continue;
      }
      const io::Entry* current = stat.ok() ? &now : nullptr;
      if (r.op == OpKind::kUpdate && r.type == io::FileType::kDir) {
        PlanDirTime(r, current);
      } else if (r.op == OpKind::kCreate) {
        PlanCreate(r, current);
      } else if (r.op == OpKind::kUpdate) {
        PlanUpdate(r, current);
      } else {
        PlanDelete(r, current);
      }
    }
    // The aside copies go only once everything they stood in for is back,
    // and before the directory times (nothing they do touches dest).
    for (UndoStep& step : releases_) plan_->steps.push_back(std::move(step));
    for (UndoStep& step : dir_times_) {
      if (created_.count(step.record.path) == 0) plan_->steps.push_back(std::move(step));
    }
  }

 private:
  void Refuse(const UndoRecord& r, const std::string& why) {
    plan_->refusals.push_back(EscapeForDisplay(r.path) + ": " + why);
  }

  // A directory whose contents the run changed: its times go back after
  // everything inside it (each step changes them); only a time, so a
  // directory gone since is no reason to refuse.
  void PlanDirTime(const UndoRecord& r, const io::Entry* now) {
    UndoStep step{UndoStep::Kind::kRestoreMtime, r, {}, 0, -1};
    if (now != nullptr && now->type == io::FileType::kDir &&
        ParsePreviousMtime(r.previous.value_or(""), &step.old_mtime_ns)) {
      dir_times_.push_back(std::move(step));
    }
  }

  void PlanCreate(const UndoRecord& r, const io::Entry* now) {
    if (consumed_.count(r.path) != 0) return;  // restored over its original name
    if (now == nullptr) return Refuse(r, "created by that run but gone since");
    if (!AsLeft(*now, r)) return Refuse(r, "changed since that run");
    UndoStep step{UndoStep::Kind::kRemoveCreated, r, {}, 0, -1};
    if (r.type == io::FileType::kDir) {
      std::vector<io::Entry> children;
      auto fd = io::OpenDirBeneath(root_, r.path);
      const io::UniqueFd dir(fd.ok() ? *fd : -1);
      const Status listed = fd.ok() ? io::ListDirectory(dir.get(), r.path, &children) : fd.status();
      if (!listed.ok()) return Refuse(r, "cannot be checked: " + listed.message());
      for (const auto& c : children) {
        if (created_.count(r.path + "/" + c.name) == 0) {
          return Refuse(r, "directory holds files that run did not create");
        }
      }
      step.kind = UndoStep::Kind::kRemoveCreatedDir;
    }
    if (deleted_.count(r.path) != 0) {
      // The run replaced an entry of another type here: set this one aside
      // while the old one is put back (UndoPlan in undo.h).
      step.kind = UndoStep::Kind::kSetAside;
      step.aside = next_aside_++;
      set_aside_.insert(r.path);
      UndoStep release = step;
      release.kind = UndoStep::Kind::kReleaseAside;
      releases_.push_back(std::move(release));
    }
    plan_->steps.push_back(std::move(step));
  }

  void PlanUpdate(const UndoRecord& r, const io::Entry* now) {
    // Updated twice in that run (its second pass): the newer record's restore
    // brings back the version kept first, the one dest had before the run.
    if (restored_from_trash_.count(r.path) != 0 && r.previous.value_or("") == "trash") return;
    if (now == nullptr || !AsLeft(*now, r)) return Refuse(r, "changed since that run");
    UndoStep step{UndoStep::Kind::kRestoreFromTrash, r, {}, 0, -1};
    const std::string prev = r.previous.value_or("");
    if (prev == "trash") {
      if (!TrashCopyIsThere(r)) return;
      restored_from_trash_.insert(r.path);
    } else if (ParsePreviousConflict(prev, &step.from)) {
      step.kind = UndoStep::Kind::kRestoreConflictCopy;
      io::Entry copy;
      if (!StatBeneath(root_, step.from, &copy).ok()) return Refuse(r, "its conflict copy is gone");
      consumed_.insert(step.from);
    } else if (ParsePreviousMtime(prev, &step.old_mtime_ns)) {
      step.kind = UndoStep::Kind::kRestoreMtime;
    } else {
      return Refuse(r, "no previous version was kept");
    }
    plan_->steps.push_back(std::move(step));
  }

  void PlanDelete(const UndoRecord& r, const io::Entry* now) {
    // A path the run deleted and then created again (another type) holds
    // that new entry, which an earlier step sets aside.
    if (now != nullptr && set_aside_.count(r.path) == 0) return Refuse(r, "deleted by that run but exists again");
    UndoStep step{UndoStep::Kind::kRecreateDir, r, {}, 0, -1};
    if (r.type != io::FileType::kDir) {
      if (!TrashCopyIsThere(r)) return;
      step.kind = UndoStep::Kind::kRestoreFromTrash;
    }
    plan_->steps.push_back(std::move(step));
  }

  // Whether the run's trash holds the version of r.path the manifest says
  // it put there; if not, says so in missing_trash or refusals. Nothing
  // else is ever restored in its place.
  bool TrashCopyIsThere(const UndoRecord& r) {
    const std::string where = std::string(kTrashDirName) + "/" + plan_->run_dir_name + "/" + r.path;
    io::Entry kept;
    const Status s = run_trash_ < 0 ? Status::FromErrno(run_trash_err_, "open", where)
                                    : StatBeneath(run_trash_, r.path, &kept);
    if (!s.ok()) {
      const std::string why =
          s.err() != 0 ? Status::FromErrno(s.err(), "trash copy", where).message() : s.message();
      plan_->missing_trash.push_back(EscapeForDisplay(r.path) + ": " + why);
      return false;
    }
    if (kept.type != r.type) {
      Refuse(r, "its trash copy '" + EscapeForDisplay(where) + "' is a " + TypeWord(kept.type) +
                    ", not the " + TypeWord(r.type) + " the manifest names");
      return false;
    }
    return true;
  }

  const int root_;
  const int run_trash_;      // <dest>/.ha-sync-trash/<run>, or -1
  const int run_trash_err_;  // why it could not be opened
  UndoPlan* const plan_;
  std::set<std::string> created_;    // paths this run created (files and dirs)
  std::set<std::string> deleted_;    // paths this run deleted
  std::set<std::string> restored_from_trash_;  // updates planned back from the run's trash
  std::set<std::string> consumed_;   // conflict copies used to restore an update
  std::set<std::string> set_aside_;  // created paths that are set aside, not removed
  int next_aside_ = 0;
  std::vector<UndoStep> releases_;   // kReleaseAside, after every restore
  std::vector<UndoStep> dir_times_;  // directory mtimes to put back, last
};

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
  Status s = UndoManifest::Read(dir.get(), dir_display, UndoManifest::FileName(plan.run_dir_name), &records,
                                &plan.run_dest_root);
  if (!s.ok()) return s;
  // The run's trash folder exists only when the run moved something there.
  const std::string run_rel = std::string(kTrashDirName) + "/" + plan.run_dir_name;
  auto run_trash = io::OpenDirBeneath(dest_root_fd, run_rel);
  io::UniqueFd run_fd(run_trash.ok() ? *run_trash : -1);
  const int run_err = run_trash.ok() ? 0 : run_trash.status().err() != 0 ? run_trash.status().err() : ENOENT;
  UndoPlanner(dest_root_fd, run_fd.get(), run_err, &plan).Plan(records);
  return plan;
}

namespace {

// Executes the steps of one plan, in order.
class UndoApplier {
 public:
  UndoApplier(int dest_root_fd, const UndoPlan& plan, const std::string& undo_run_dir_name)
      : root_(dest_root_fd),
        trash_(dest_root_fd, undo_run_dir_name),
        run_rel_(std::string(kTrashDirName) + "/" + plan.run_dir_name),
        aside_name_(undo_run_dir_name + ".aside") {}

  // Does one step; fills `op` for a step that changes dest.
  Status Do(const UndoStep& step, OpRecord* op) {
    const UndoRecord& r = step.record;
    if (step.kind == UndoStep::Kind::kReleaseAside) return Release(step);
    std::string parent, name;
    SplitRel(r.path, &parent, &name);
    op->filepath = r.path == "." ? r.path : r.type == io::FileType::kDir ? r.path + "/" : r.path;
    op->started_at_ms = NowMs();
    // Opened when it is there (one openat2); made, component by component,
    // only when it is not.
    auto dest_parent = io::OpenDirBeneath(root_, parent);
    if (!dest_parent.ok()) dest_parent = io::MakeDirsBeneath(root_, parent, 0755);
    if (!dest_parent.ok()) return dest_parent.status();
    io::UniqueFd pfd(*dest_parent);
    switch (step.kind) {
      case UndoStep::Kind::kRemoveCreated:
        op->operation = OpKind::kDelete;
        op->size_before = r.size;
        if (Status s = StillAsLeft(pfd.get(), name, r); !s.ok()) return s;
        return trash_.MoveIn(pfd.get(), r.path);
      case UndoStep::Kind::kRemoveCreatedDir:
        op->operation = OpKind::kDelete;
        return io::RemoveEntry(pfd.get(), name, true, r.path);
      case UndoStep::Kind::kSetAside:
        op->operation = OpKind::kDelete;
        op->size_before = r.type == io::FileType::kDir ? 0 : r.size;
        if (Status s = StillAsLeft(pfd.get(), name, r); !s.ok()) return s;
        return SetAside(step, pfd.get(), name);
      case UndoStep::Kind::kRecreateDir:
        op->operation = OpKind::kCreate;
        return RecreateDir(pfd.get(), name, r.path);
      case UndoStep::Kind::kRestoreMtime:
        op->operation = OpKind::kUpdate;
        // A file's bytes written since must not get the old time.
        if (r.type != io::FileType::kDir) {
          if (Status s = StillAsLeft(pfd.get(), name, r); !s.ok()) return s;
        }
        return io::SetTimes(pfd.get(), name, step.old_mtime_ns, step.old_mtime_ns, r.path);
      case UndoStep::Kind::kRestoreConflictCopy: {
        op->operation = OpKind::kUpdate;
        std::string from_parent, from_name;
        SplitRel(step.from, &from_parent, &from_name);  // beside r.path (UndoManifest::Read checks)
        Status s = StillAsLeft(pfd.get(), name, r);
        if (s.ok()) s = trash_.LinkIn(pfd.get(), r.path);
        if (s.ok() && ::renameat(pfd.get(), from_name.c_str(), pfd.get(), name.c_str()) != 0) {
          s = Status::FromErrno(errno, "restore conflict copy", step.from);
        }
        return s;
      }
      case UndoStep::Kind::kRestoreFromTrash:
        op->operation = r.op == OpKind::kDelete ? OpKind::kCreate : OpKind::kUpdate;
        return RestoreFromTrash(r, parent, name, pfd.get());
      case UndoStep::Kind::kReleaseAside:
        break;  // handled above: no dest parent needed
    }
    return Status::Ok();
  }

  // Where the entries set aside and not yet released are, for an error.
  std::string StillAside() const {
    std::string out;
    for (const auto& [path, aside] : pending_) {
      out += "; the " + std::string(aside.second) + " that run left at '" + EscapeForDisplay(path) +
             "' is kept in '" + AsideShown(aside.first) + "'";
    }
    return out;
  }

  // The aside folder is empty once every entry in it is released; a failure
  // to remove it leaves an empty folder in the trash, which expires with it.
  void Finish() {
    if (aside_fd_.get() < 0) return;
    aside_fd_.reset();
    auto trash = OpenTrashFolder(root_);
    if (!trash.ok()) return;
    ::unlinkat(*trash, aside_name_.c_str(), AT_REMOVEDIR);
    ::close(*trash);
  }

 private:
  std::string AsideShown(int index) const {
    return std::string(kTrashDirName) + "/" + aside_name_ + "/" + std::to_string(index);
  }

  Result<int> AsideFolder() {
    if (aside_fd_.get() >= 0) return aside_fd_.get();
    auto trash = OpenTrashFolder(root_);
    if (!trash.ok()) return trash.status();
    io::UniqueFd trash_fd(*trash);
    const std::string shown = std::string(kTrashDirName) + "/" + aside_name_;
    if (::mkdirat(trash_fd.get(), aside_name_.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::FromErrno(errno, "create aside folder", shown);
    }
    auto fd = io::OpenChildDir(trash_fd.get(), aside_name_, shown);
    if (!fd.ok()) return fd.status();
    aside_fd_.reset(*fd);
    return aside_fd_.get();
  }

  Status SetAside(const UndoStep& step, int pfd, const std::string& name) {
    auto aside = AsideFolder();
    if (!aside.ok()) return aside.status();
    const std::string to = std::to_string(step.aside);
    if (::renameat(pfd, name.c_str(), *aside, to.c_str()) != 0) {
      return Status::FromErrno(errno, "set aside", step.record.path);
    }
    pending_[step.record.path] = {step.aside, TypeWord(step.record.type)};
    return Status::Ok();
  }

  Status Release(const UndoStep& step) {
    auto aside = AsideFolder();
    if (!aside.ok()) return aside.status();
    const std::string from = std::to_string(step.aside);
    const Status s = step.record.type == io::FileType::kDir
                         ? io::RemoveEntry(*aside, from, true, AsideShown(step.aside))
                         : trash_.MoveInFrom(*aside, from, step.record.path);
    if (s.ok()) pending_.erase(step.record.path);
    return s;
  }

  // A directory already there counts (a restore below it may have made it);
  // anything else in its place (a symlink planted since) does not.
  static Status RecreateDir(int pfd, const std::string& name, const std::string& rel) {
    if (::mkdirat(pfd, name.c_str(), 0755) == 0) return Status::Ok();
    const int err = errno;
    struct stat st;
    if (err == EEXIST && ::fstatat(pfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      return Status::Ok();
    }
    return Status::FromErrno(err, "mkdir", rel);
  }

  Status RestoreFromTrash(const UndoRecord& r, const std::string& parent, const std::string& name, int pfd) {
    auto from = io::OpenDirBeneath(root_, parent.empty() ? run_rel_ : run_rel_ + "/" + parent);
    if (!from.ok()) return from.status();
    io::UniqueFd from_fd(*from);
    if (r.op != OpKind::kUpdate) {
      // What the run deleted comes back only where nothing took its place.
      const int res = io::RenameNoReplace(from_fd.get(), name, pfd, name);
      if (res == -EEXIST) return ChangedSincePlan(r, "something was put in its place");
      return res == 0 ? Status::Ok() : Status::FromErrno(-res, "restore from trash", r.path);
    }
    Status s = StillAsLeft(pfd, name, r);
    if (s.ok()) s = trash_.LinkIn(pfd, r.path);
    if (s.ok() && ::renameat(from_fd.get(), name.c_str(), pfd, name.c_str()) != 0) {
      s = Status::FromErrno(errno, "restore from trash", r.path);
    }
    return s;
  }

  // Right before a step replaces or removes what the run left at `name`:
  // the plan checked it, and a change made since (a file written while the
  // undo runs) is never replaced (one lookup of window).
  static Status StillAsLeft(int pfd, const std::string& name, const UndoRecord& r) {
    auto same = io::StillAsListed(pfd, name, r.path, r.type, r.size, r.mtime_ns);
    if (!same.ok()) return ChangedSincePlan(r, same.status().message());
    if (!*same) return ChangedSincePlan(r, "it was changed");
    return Status::Ok();
  }

  static Status ChangedSincePlan(const UndoRecord& r, const std::string& what) {
    return Status::Error("'" + EscapeForDisplay(r.path) + "' changed while the undo ran (" + what +
                             "): left as it is, the undo stopped here",
                         EBUSY);
  }

  const int root_;
  Trash trash_;
  const std::string run_rel_;     // .ha-sync-trash/<run>
  const std::string aside_name_;  // <undo run>.aside, in .ha-sync-trash
  io::UniqueFd aside_fd_;
  std::map<std::string, std::pair<int, const char*>> pending_;  // path -> (aside index, type word)
};

}  // namespace

Status ApplyUndo(int dest_root_fd, const UndoPlan& plan, const std::string& undo_run_dir_name,
                 const std::function<void(const OpRecord&)>& on_op,
                 const std::function<void(const UndoStep&)>& on_done) {
  if (plan.refused()) return Status::Error("undo refused: the plan has refusals");
  UndoApplier applier(dest_root_fd, plan, undo_run_dir_name);
  for (const UndoStep& step : plan.steps) {
    OpRecord op;
    Status s = applier.Do(step, &op);
    op.ended_at_ms = NowMs();
    const bool changes_dest = step.kind != UndoStep::Kind::kReleaseAside;
    if (!s.ok()) {
      s = Status::Error(s.message() + applier.StillAside(), s.err());
      if (changes_dest) {
        op.status = OpStatus::kFail;
        op.error_message = s.message();
        on_op(op);
      }
      return s;
    }
    if (changes_dest) on_op(op);
    if (on_done) on_done(step);
  }
  applier.Finish();
  return Status::Ok();
}

}  // namespace ha_sync::pipeline
