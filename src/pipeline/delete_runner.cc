#include "pipeline/delete_runner.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "ha_sync/join_rel.h"
#include "ha_sync/text.h"
#include "io/dir_reader.h"
#include "io/file_ops.h"
#include "pipeline/plan_apply.h"
#include "pipeline/planner.h"
#include "pipeline/temp_tags.h"
#include "pipeline/thread_pool.h"

namespace ha_sync::pipeline {

using io::Entry;
using io::FileType;

namespace {

// --max-delete-percent applies only when more files than this would go.
constexpr int64_t kVanishedFloor = 10;

}  // namespace

Status DeleteRunner::BeginPass() {
  auto spool = DeleteSpool::Create(ctx_.opt.temp_dir);
  if (!spool.ok()) return spool.status();
  spool_ = std::move(*spool);
  return Status::Ok();
}

void DeleteRunner::CountDestFiles(const std::vector<Entry>& dest_entries) {
  for (const Entry& d : dest_entries) {
    if (d.type != FileType::kDir) ++dest_files_seen_;
  }
}

Status DeleteRunner::SpoolSubtree(int parent_fd, const std::string& rel, const Entry& entry,
                                  bool* all_deleted) {
  *all_deleted = true;
  if (entry.type == FileType::kDir) {
    auto fd = io::OpenChildDir(parent_fd, entry.name, rel);
    if (!fd.ok()) return fd.status();
    io::UniqueFd dir(*fd);
    if (Status s = ctx_.NotTheOtherRoot(dir.get(), true, rel); !s.ok()) return s;
    std::vector<Entry> children;
    Status s = io::ListDirectory(dir.get(), rel, &children);
    if (!s.ok()) return s;
    ctx_.progress.entries_scanned.fetch_add(static_cast<int64_t>(children.size()),
                                            std::memory_order_relaxed);
    std::vector<StateEntry> state;
    if (ctx_.state_reader) {
      s = ctx_.state_reader->LoadDir(rel, &state);
      if (!s.ok()) return s;
    }
    size_t k = 0;
    for (const Entry& child : children) {
      if (child.type != FileType::kDir) ++dest_files_seen_;
      const std::string child_rel = JoinRel(rel, child.name);
      // Kept, and so is this directory: excluded paths, files still
      // settling (--min-age), and temp-named files no run of this pair made.
      if (IsExcluded(ctx_.opt.excluded, child_rel) || Settling(child, ctx_.plan) ||
          (io::IsSyncTempName(child.name) && !IsOwnTemp(child, ctx_.opt.own_temp_tags))) {
        *all_deleted = false;
        continue;
      }
      if (ctx_.state_reader) {
        // Only what was synced before and is unchanged since goes; anything
        // new or changed on dest is kept (and so is this directory).
        while (k < state.size() && state[k].name < child.name) ++k;
        const bool known = k < state.size() && state[k].name == child.name;
        if (!known || !SameAsState(child, state[k])) {
          *all_deleted = false;
          continue;
        }
      }
      bool child_all = true;
      s = SpoolSubtree(dir.get(), child_rel, child, &child_all);
      if (!s.ok()) return s;
      *all_deleted = *all_deleted && child_all;
    }
    if (!*all_deleted) return Status::Ok();  // the directory stays
  }
  // `ha-sync apply`: only the deletes the plan lists (checked again before each).
  if (ctx_.opt.apply_plan && ctx_.Planned(OpKind::kDelete, rel) == nullptr) {
    *all_deleted = false;
    return Status::Ok();
  }
  SpoolRecord r;
  r.kind = SpoolRecord::Kind::kDelete;
  r.is_dir = entry.type == FileType::kDir;
  r.type = static_cast<uint8_t>(entry.type);
  r.size = entry.type == FileType::kFile ? entry.size : 0;
  r.mtime_ns = entry.mtime_ns;
  r.rel_path = rel;
  Status s = spool_->Append(r);
  if (s.ok()) ctx_.AddPending(OpKind::kDelete, 1, 0);
  return s;
}

void DeleteRunner::SpoolRestoreTimes(const DirNode& node) {
  SpoolRecord m;
  m.kind = SpoolRecord::Kind::kRestoreDirTimes;
  m.is_dir = true;
  m.atime_ns = node.src_attrs.atime_ns;
  m.mtime_ns = node.src_attrs.mtime_ns;
  m.rel_path = node.rel;
  Status s = spool_->Append(m);
  if (!s.ok()) ctx_.Warn(s.message());
}

Status DeleteRunner::CheckVanishedShare(int64_t files) const {
  // The share of what the last sync saw that is now to go; a partly
  // unmounted src (a nested mount) looks exactly like that. Without state
  // (a first run) nothing was seen yet: --max-delete is the limit there.
  // A few files are an ordinary edit, and go to the trash anyway.
  if (!ctx_.state_reader || files <= kVanishedFloor) return Status::Ok();
  const int64_t known = ctx_.state_reader->files();
  const EngineOptions& opt = ctx_.opt;
  if (opt.max_vanished_percent >= 100 || known <= 0) return Status::Ok();
  const double pct = 100.0 * static_cast<double>(files) / static_cast<double>(known);
  if (pct <= opt.max_vanished_percent) return Status::Ok();
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "refusing to delete %lld of the %lld files the sync state knows (%.1f%%): more "
                "than --max-delete-percent %g; nothing was deleted (is part of the source "
                "unmounted? if this is intended, rerun with --max-delete-percent 100)",
                static_cast<long long>(files), static_cast<long long>(known), pct,
                opt.max_vanished_percent);
  return Status::Error("pair '" + opt.pair + "': " + buf);
}

Status DeleteRunner::CheckGuards(int64_t files, int64_t deletes) const {
  const EngineOptions& opt = ctx_.opt;
  // The count is of every delete, directories too (as the summary counts
  // them): `--max-delete 0` deletes nothing, not even an empty directory
  // that may be a nested mount point.
  if (opt.max_delete_count && deletes > *opt.max_delete_count) {
    return Status::Error("refusing to delete " + std::to_string(deletes) +
                         " entries (files and directories): more than --max-delete " +
                         std::to_string(*opt.max_delete_count) + "; nothing was deleted");
  }
  if (opt.max_delete_percent && dest_files_seen_ > 0) {
    const double pct = 100.0 * static_cast<double>(files) / static_cast<double>(dest_files_seen_);
    if (pct > *opt.max_delete_percent) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "refusing to delete %lld of %lld dest files (%.1f%%): more than --max-delete "
                    "%g%%; nothing was deleted",
                    static_cast<long long>(files), static_cast<long long>(dest_files_seen_), pct,
                    *opt.max_delete_percent);
      return Status::Error(buf);
    }
  }
  return CheckVanishedShare(files);
}

Status DeleteRunner::Run() {
  if (spool_->records() == 0) return Status::Ok();
  if (ctx_.scan_errors.load() > 0) {
    disabled_ = true;
    ctx_.Warn("deletes disabled for this run: " + std::to_string(ctx_.scan_errors.load()) +
              " read error(s) during the scan; " + std::to_string(spool_->files()) +
              " planned delete(s) not done");
    return Status::Ok();
  }
  if (Status guard = CheckGuards(spool_->files(), spool_->deletes()); !guard.ok()) return guard;
  OpenParent parent;
  if (ctx_.opt.dry_run) {
    // The plan lists the deletes in the spool's order; nothing is touched.
    return ForEachRecord([&](const SpoolRecord& r) {
      if (r.kind == SpoolRecord::Kind::kDelete) DeleteOne(r, &parent);
    });
  }
  // Files first, many at once; then the directories, empty by then and
  // children first as spooled; then the times of the directories the
  // deletes changed, once nothing more is removed from them.
  Status s = DeleteFilesInParallel();
  if (!s.ok() || ctx_.Stopping()) return s;
  s = ForEachRecord([&](const SpoolRecord& r) {
    if (r.kind == SpoolRecord::Kind::kDelete && r.is_dir) DeleteOne(r, &parent);
  });
  if (!s.ok() || ctx_.Stopping()) return s;
  return RestoreTimesInParallel();
}

Status DeleteRunner::RestoreTimesInParallel() {
  // Independent of each other (setting a directory's times leaves its
  // parent's alone): on --workers threads too.
  ThreadPool pool(std::max<size_t>(1, ctx_.opt.workers), 64);
  uint64_t key = 0;
  Status s = ForEachRecord([&](const SpoolRecord& r) {
    if (r.kind == SpoolRecord::Kind::kRestoreDirTimes) pool.Submit([this, r] { RestoreTimes(r); }, key++);
  });
  pool.Wait();
  return s;
}

Status DeleteRunner::ForEachRecord(const std::function<void(const SpoolRecord&)>& handle) {
  Status s = spool_->Rewind();
  if (!s.ok()) return s;
  SpoolRecord r;
  Status read_status;
  while (spool_->Next(&r, &read_status)) {
    if (ctx_.Stopping()) return Status::Ok();
    handle(r);
  }
  return read_status;
}

Status DeleteRunner::DeleteFilesInParallel() {
  if (spool_->files() == 0) return Status::Ok();
  // Each delete is a round trip on NFS (a rename into the trash or an
  // unlink), so --workers of them are in flight, in batches of one
  // directory's files that share the open parent.
  constexpr size_t kBatch = 64;
  ThreadPool pool(std::max<size_t>(1, ctx_.opt.workers), 64);
  std::vector<SpoolRecord> batch;
  std::string batch_parent, parent_rel, name;
  uint64_t key = 0;
  auto submit = [&] {
    if (batch.empty()) return;
    pool.Submit(
        [this, records = std::move(batch)] {
          OpenParent parent;
          for (const SpoolRecord& r : records) {
            if (ctx_.Stopping()) return;
            DeleteOne(r, &parent);
          }
        },
        key++);
    batch = {};
  };
  Status s = ForEachRecord([&](const SpoolRecord& r) {
    if (r.kind != SpoolRecord::Kind::kDelete || r.is_dir) return;
    SplitRel(r.rel_path, &parent_rel, &name);
    if (parent_rel != batch_parent || batch.size() >= kBatch) {
      submit();
      batch_parent = parent_rel;
    }
    batch.push_back(r);
  });
  submit();
  pool.Wait();
  return s;
}

void DeleteRunner::RestoreTimes(const SpoolRecord& r) {
  auto fd = io::OpenDirBeneath(ctx_.dest_root_fd, r.rel_path);
  if (!fd.ok()) {
    ctx_.Warn(fd.status().message());
    return;
  }
  io::UniqueFd dir(*fd);
  Status s = io::SetTimes(dir.get(), ".", r.atime_ns, r.mtime_ns, r.rel_path);
  if (!s.ok()) ctx_.Warn(s.message());
}

void DeleteRunner::DeleteOne(const SpoolRecord& r, OpenParent* parent) {
  RunContext::WorkScope work(&ctx_, OpKind::kDelete, 0);
  OpRecord op = ctx_.NewOp(OpKind::kDelete, r.is_dir ? r.rel_path + "/" : r.rel_path);
  if (!r.is_dir) op.size_before = r.size;
  if (ctx_.opt.dry_run) {
    NotePlannedDelete(r);
    ctx_.Record(std::move(op));
    return;
  }
  if (ctx_.opt.apply_plan && !ctx_.StillAsPlannedAt(OpKind::kDelete, r.rel_path)) return;
  std::string parent_rel, name;
  SplitRel(r.rel_path, &parent_rel, &name);
  if (parent_rel != parent->rel) {
    auto fd = io::OpenDirBeneath(ctx_.dest_root_fd, parent_rel);
    if (!fd.ok()) {
      *parent = OpenParent();
      ctx_.scan_errors.fetch_add(1);  // keep the old state: the delete did not happen
      ctx_.Fail(std::move(op), fd.status());
      return;
    }
    parent->fd.reset(*fd);
    parent->rel = parent_rel;
  }
  // A file or symlink edited on dest since the walk listed it (gone: the
  // delete below says so).
  auto same = r.is_dir ? Result<bool>(true)
                       : io::StillAsListed(parent->fd.get(), name, r.rel_path, static_cast<FileType>(r.type), r.size,
                                           r.mtime_ns);
  if (same.ok() && !*same) {
    // Edited on dest while the run went on: the edit is not ours to delete.
    StateEntry listed{name, static_cast<FileType>(r.type), r.size, r.mtime_ns};
    ctx_.KeepOldState(parent_rel, name, &listed);
    ctx_.Fail(std::move(op), Status::Error("'" + EscapeForDisplay(r.rel_path) +
                                               "' changed on dest since it was listed: kept, not deleted "
                                               "(the next run compares it)",
                                           EBUSY));
    return;
  }
  // Files go to the trash; a directory is empty by now (its children went first).
  const bool to_trash = ctx_.trash && !r.is_dir;
  ctx_.sink->OnIntent(op);
  Status s = to_trash ? ctx_.trash->MoveIn(parent->fd.get(), r.rel_path)
                      : io::RemoveEntry(parent->fd.get(), name, r.is_dir, r.rel_path);
  if (!s.ok() && ctx_.opt.apply_plan && r.is_dir && s.err() == ENOTEMPTY) {
    // Something in it was left (stale, or not in the plan): so is the directory.
    ctx_.Stale(OpKind::kDelete, r.rel_path, "directory is no longer empty");
    return;
  }
  if (!s.ok()) {
    StateEntry still;
    still.name = name;
    still.type = static_cast<FileType>(r.type);
    still.size = r.size;
    still.mtime_ns = r.mtime_ns;
    ctx_.KeepOldState(parent_rel, name, &still);
    ctx_.Fail(std::move(op), s);
    return;
  }
  ctx_.Record(std::move(op));
  ctx_.Remember(OpKind::kDelete, r.rel_path, static_cast<FileType>(r.type), r.size, r.mtime_ns,
                to_trash ? std::optional<std::string>("trash") : std::nullopt);
}

void DeleteRunner::NotePlannedDelete(const SpoolRecord& r) {
  if (!ctx_.plan_out) return;
  // The plan needs src's side too: for a replace it is not missing.
  std::string parent_rel, name;
  SplitRel(r.rel_path, &parent_rel, &name);
  std::optional<Entry> src;
  auto fd = io::OpenDirBeneath(ctx_.src_root_fd, parent_rel);
  if (fd.ok()) {
    io::UniqueFd dir(*fd);
    if (Status s = StatNow(dir.get(), name, parent_rel, &src); !s.ok()) ctx_.Warn(s.message());
  }
  Entry dest;
  dest.name = name;
  dest.type = static_cast<FileType>(r.type);
  dest.size = r.size;
  dest.mtime_ns = r.mtime_ns;
  ctx_.NotePlanned(OpKind::kDelete, r.rel_path, src ? &*src : nullptr, &dest);
}

void DeleteRunner::EndPass() {
  ctx_.AddPending(OpKind::kDelete,
                  -ctx_.progress.pending[static_cast<int>(OpKind::kDelete)].load(), 0);
  spool_.reset();
}

}  // namespace ha_sync::pipeline
