#include "pipeline/file_executor.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "ha_sync/text.h"
#include "io/file_copy.h"
#include "io/dir_reader.h"
#include "io/file_ops.h"

namespace ha_sync::pipeline {

using io::Entry;
using io::FileType;

namespace {

constexpr char kCancelledCopy[] =
    "cancelled: the run was stopped before this copy finished; nothing was changed";

// File operations queued ahead of the workers: enough for several
// directories of a photo tree (~100 files each) to be in flight at once.
constexpr size_t kQueuedFiles = 512;

// "<stem>.ha-sync-conflict-<stamp>-<direction><ext>", within 255 bytes.
std::string ConflictCopyName(const std::string& name, const std::string& stamp,
                             const std::string& direction) {
  size_t dot = name.rfind('.');
  if (dot == 0 || dot == std::string::npos || name.size() - dot > 16) dot = name.size();
  std::string stem = name.substr(0, dot);
  const std::string ext = name.substr(dot);
  const std::string mark = ".ha-sync-conflict-" + stamp + "-" + direction;
  const size_t room = 255 - mark.size() - ext.size();
  if (stem.size() > room) stem.resize(room);
  return stem + mark + ext;
}

}  // namespace

FileExecutor::FileExecutor(RunContext& ctx, io::FileCopier& copier)
    : ctx_(ctx),
      copier_(copier),
      // Room for files of several directories, so the workers can spread over
      // them (thread_pool.h); bounded, whatever the tree's size.
      pool_(std::make_unique<ThreadPool>(ctx.opt.workers,
                                         std::max<size_t>(ctx.opt.workers * 4, kQueuedFiles))) {}

FileExecutor::~FileExecutor() { Drain(); }

void FileExecutor::Drain() {
  if (!pool_) return;
  pool_->Wait();
  pool_.reset();
}

void FileExecutor::Submit(const NodePtr& node, ActionKind kind, const Entry& src,
                          const Entry* dest, const StateEntry* old) {
  if (ctx_.opt.dry_run) {
    const bool create = kind == ActionKind::kCreateFile || kind == ActionKind::kCreateSymlink;
    OpRecord op = ctx_.NewOp(create ? OpKind::kCreate : OpKind::kUpdate, JoinRel(node->rel, src.name));
    if (dest != nullptr) op.size_before = dest->size;
    op.size_after = src.size;
    ctx_.NotePlanned(op.operation, op.filepath, &src, dest);
    ctx_.Record(std::move(op));
    return;
  }
  std::optional<Entry> dest_copy;
  if (dest != nullptr) dest_copy = *dest;
  std::optional<StateEntry> old_copy;
  if (old != nullptr) old_copy = *old;
  ctx_.progress.queued.fetch_add(1, std::memory_order_relaxed);
  const OpKind pending_kind = dest == nullptr ? OpKind::kCreate : OpKind::kUpdate;
  const int64_t pending_bytes = src.type == FileType::kFile ? src.size : 0;
  ctx_.AddPending(pending_kind, 1, pending_bytes);
  pool_->Submit([this, node, kind, src, dest_copy, old_copy, pending_kind, pending_bytes] {
    ctx_.progress.queued.fetch_sub(1, std::memory_order_relaxed);
    RunContext::WorkScope work(&ctx_, pending_kind, pending_bytes);  // no longer pending however it ends
    if (ctx_.Stopping()) return;  // never started: nothing to record
    const Entry* d = dest_copy ? &*dest_copy : nullptr;
    bool ok;
    if (ctx_.opt.apply_plan &&
        !ctx_.StillAsPlanned(pending_kind, node->rel, src.name, node->src_fd, node->dest_fd)) {
      ok = false;  // stale: recorded as such, the old state stays
    } else if (kind == ActionKind::kCreateSymlink || kind == ActionKind::kUpdateSymlink) {
      ok = DoSymlink(node, kind, src, d);
    } else if (kind == ActionKind::kConflictCopy) {
      ok = DoConflictCopy(node, src, *d);
    } else {
      ok = DoCopy(node, kind, src, d);
    }
    if (!ok) ctx_.KeepOldState(node->rel, src.name, old_copy ? &*old_copy : nullptr);
  }, reinterpret_cast<uintptr_t>(node.get()));
}

std::optional<bool> FileExecutor::CarryMtimeIfSameBytes(const NodePtr& node, const Entry& src,
                                                        const Entry& dest,
                                                        const io::CopyOptions& copy_options,
                                                        OpRecord* op) {
  const std::string rel = op->filepath;  // op is moved into its record below
  std::string src_md5, dest_md5;
  Status s = io::HashFile(node->src_fd, src.name, rel, copy_options, &src_md5);
  if (s.ok()) s = io::HashFile(node->dest_fd, src.name, rel, copy_options, &dest_md5);
  if (!s.ok()) {
    if (s.err() != ECANCELED) ctx_.Fail(std::move(*op), s);
    return false;
  }
  op->md5_before = dest_md5;
  if (src_md5 != dest_md5) return std::nullopt;
  // Same bytes, newer mtime on src: carry the mtime only, unless dest was
  // written while it was hashed (its new bytes must not get src's time).
  auto same = io::StillAsListed(node->dest_fd, src.name, rel, FileType::kFile, dest.size, dest.mtime_ns);
  s = same.status();
  if (same.ok() && !*same) {
    s = Status::Error("'" + EscapeForDisplay(rel) +
                          "' changed on dest while it was compared: left as it is (the next run compares it)",
                      EBUSY);
  }
  if (s.ok()) s = io::SetTimes(node->dest_fd, src.name, src.atime_ns, src.mtime_ns, rel);
  if (!s.ok()) {
    ctx_.Fail(std::move(*op), s);
    return false;
  }
  op->size_after = src.size;
  op->md5_after = src_md5;
  node->changed = true;
  ctx_.Record(std::move(*op));
  ctx_.Remember(OpKind::kUpdate, rel, FileType::kFile, src.size, src.mtime_ns,
                "mtime:" + std::to_string(dest.mtime_ns));
  return true;
}

bool FileExecutor::DoCopy(const NodePtr& node, ActionKind kind, const Entry& src,
                          const Entry* dest, bool trash_previous, const std::string& conflict_copy) {
  const std::string rel = JoinRel(node->rel, src.name);
  OpRecord op = ctx_.NewOp(dest == nullptr ? OpKind::kCreate : OpKind::kUpdate, rel);
  if (dest != nullptr) op.size_before = dest->size;
  io::CopyOptions copy_options;
  copy_options.block_size = ctx_.opt.block_size;
  copy_options.fsync = ctx_.opt.fsync;
  copy_options.cancel = &ctx_.aborted;
  copy_options.block_delay_ms = ctx_.opt.test_block_delay_ms;
  copy_options.expected_size = src.size;
  copy_options.expected_mode = static_cast<int>(src.mode);
  copy_options.temp_tag = ctx_.opt.temp_tag;
  copy_options.no_replace = dest == nullptr;
  if (dest != nullptr) copy_options.replaces = io::PlannedTarget{dest->size, dest->mtime_ns};

  if (kind == ActionKind::kHashThenUpdate) {
    const std::optional<bool> decided = CarryMtimeIfSameBytes(node, src, *dest, copy_options, &op);
    if (decided) return *decided;
  }
  if (dest != nullptr && trash_previous && ctx_.trash) {
    Status s = ctx_.trash->LinkIn(node->dest_fd, rel);
    if (!s.ok()) {
      ctx_.Fail(std::move(op), s);
      return false;
    }
  }
  io::CopyOutcome outcome;
  ctx_.sink->OnIntent(op);
  Status s = copier_.Copy(node->src_fd, node->dest_fd, src.name, rel, copy_options, &outcome);
  if (!s.ok()) {
    // Its intent is in the opslog: a copy the stop cut short is recorded
    // as such (the copier removed its temp file; the target is untouched).
    if (s.err() == ECANCELED) s = Status::Error(kCancelledCopy, ECANCELED);
    ctx_.Fail(std::move(op), s);
    return false;
  }
  op.size_after = outcome.bytes;
  op.md5_after = outcome.md5;
  op.bytes_transferred = outcome.bytes;
  node->changed = true;
  ctx_.Record(std::move(op));
  std::optional<std::string> previous;
  if (dest != nullptr) previous = trash_previous ? std::string("trash") : "conflict:" + conflict_copy;
  ctx_.Remember(dest == nullptr ? OpKind::kCreate : OpKind::kUpdate, rel, FileType::kFile,
                outcome.bytes, outcome.source.mtime_ns, previous);
  return true;
}

bool FileExecutor::DoConflictCopy(const NodePtr& node, const Entry& src, const Entry& dest) {
  if (src.size == dest.size) {
    // Maybe the same bytes with different times: then it is no conflict.
    io::CopyOptions hash_options;
    hash_options.block_size = ctx_.opt.block_size;
    hash_options.cancel = &ctx_.aborted;
    std::string a, b;
    const std::string rel = JoinRel(node->rel, src.name);
    if (io::HashFile(node->src_fd, src.name, rel, hash_options, &a).ok() &&
        io::HashFile(node->dest_fd, src.name, rel, hash_options, &b).ok() && a == b) {
      return DoCopy(node, ActionKind::kHashThenUpdate, src, &dest);
    }
  }
  const std::string loser = ConflictCopyName(src.name, ctx_.stamp, ctx_.opt.direction);
  const std::string loser_rel = JoinRel(node->rel, loser);
  OpRecord keep = ctx_.NewOp(OpKind::kCreate, loser_rel);
  keep.size_after = dest.size;
  ctx_.sink->OnIntent(keep);
  if (::linkat(node->dest_fd, src.name.c_str(), node->dest_fd, loser.c_str(), 0) != 0) {
    ctx_.Fail(std::move(keep), Status::FromErrno(errno, "keep conflict copy", loser_rel));
    return false;
  }
  ctx_.Record(std::move(keep));
  ctx_.Remember(OpKind::kCreate, loser_rel, FileType::kFile, dest.size, dest.mtime_ns);
  ctx_.Warn("conflict on '" + EscapeForDisplay(JoinRel(node->rel, src.name)) +
            "': changed on both sides; the destination's version is kept as '" +
            EscapeForDisplay(loser_rel) + "'");
  // The dest version is safe as the conflict copy: no trash link needed.
  return DoCopy(node, ActionKind::kUpdateFile, src, &dest, /*trash_previous=*/false, loser_rel);
}

bool FileExecutor::DoSymlink(const NodePtr& node, ActionKind kind, const Entry& src,
                             const Entry* dest) {
  const std::string rel = JoinRel(node->rel, src.name);
  OpRecord op =
      ctx_.NewOp(kind == ActionKind::kCreateSymlink ? OpKind::kCreate : OpKind::kUpdate, rel);
  if (dest != nullptr) op.size_before = dest->size;
  Status s;
  if (dest != nullptr && ctx_.trash) s = ctx_.trash->LinkIn(node->dest_fd, rel);
  if (s.ok()) {
    ctx_.sink->OnIntent(op);
    std::optional<io::PlannedTarget> replaces;
    if (dest != nullptr) replaces = io::PlannedTarget{dest->size, dest->mtime_ns};
    s = io::CopySymlinkAtomic(node->dest_fd, src, rel, ctx_.opt.temp_tag, dest == nullptr, replaces);
  }
  if (!s.ok()) {
    ctx_.Fail(std::move(op), s);
    return false;
  }
  op.size_after = static_cast<int64_t>(src.link_target.size());
  node->changed = true;
  ctx_.Record(std::move(op));
  std::optional<std::string> previous;
  if (dest != nullptr && ctx_.trash) previous = "trash";
  ctx_.Remember(dest == nullptr ? OpKind::kCreate : OpKind::kUpdate, rel, FileType::kSymlink,
                static_cast<int64_t>(src.link_target.size()), src.mtime_ns, previous);
  return true;
}

}  // namespace ha_sync::pipeline
